package bedrocksim_test

import (
	"context"
	"net/http"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/service/bedrock"
	"github.com/aws/aws-sdk-go-v2/service/bedrockruntime"

	"github.com/tollgate-gw/tollgate/internal/bedrocksim"
)

// TestEndpointEnvironment reaches the simulator the way a user configures it:
// through the service-specific endpoint variables and a default config.
func TestEndpointEnvironment(t *testing.T) {
	s := startSim(t, bedrocksim.Options{})
	t.Setenv("AWS_ENDPOINT_URL_BEDROCK_RUNTIME", s.url)
	t.Setenv("AWS_ENDPOINT_URL_BEDROCK", s.url)
	t.Setenv("AWS_ACCESS_KEY_ID", "AKIDEXAMPLE")
	t.Setenv("AWS_SECRET_ACCESS_KEY", "secret")
	t.Setenv("AWS_REGION", "us-east-1")
	t.Setenv("AWS_CONFIG_FILE", t.TempDir()+"/none")
	t.Setenv("AWS_SHARED_CREDENTIALS_FILE", t.TempDir()+"/none")
	cfg, err := config.LoadDefaultConfig(context.Background(), config.WithRetryer(func() aws.Retryer { return aws.NopRetryer{} }))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := bedrockruntime.NewFromConfig(cfg).Converse(context.Background(), converseInput(haiku, "hi")); err != nil {
		t.Errorf("Converse: %v", err)
	}
	if _, err := bedrock.NewFromConfig(cfg).ListFoundationModels(context.Background(), &bedrock.ListFoundationModelsInput{}); err != nil {
		t.Errorf("ListFoundationModels: %v", err)
	}
}

func TestStartStopsWithContext(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	url, err := bedrocksim.New(bedrocksim.Options{}).Start(ctx, "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	resp, err := http.Get(url + "/foundation-models")
	if err != nil {
		t.Fatalf("GET before cancel: %v", err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusForbidden { // no Authorization header
		t.Errorf("status = %d, want 403", resp.StatusCode)
	}
	cancel()
	deadline := time.Now().Add(5 * time.Second)
	for {
		c := &http.Client{Transport: &http.Transport{DisableKeepAlives: true}}
		resp, err := c.Get(url + "/foundation-models")
		if err != nil {
			return // refused: the server is down
		}
		resp.Body.Close()
		if time.Now().After(deadline) {
			t.Fatal("server still answers after its context was cancelled")
		}
		time.Sleep(10 * time.Millisecond)
	}
}
