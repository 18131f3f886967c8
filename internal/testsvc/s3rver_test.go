package testsvc_test

import (
	"net/http"
	"testing"

	"github.com/tollgate-gw/tollgate/internal/testsvc"
)

func TestS3rverStartsForPolicyTests(t *testing.T) {
	endpoint := testsvc.S3(t)
	resp, err := http.Get(endpoint + "/")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode >= 500 {
		t.Errorf("GET / = %s", resp.Status)
	}
}
