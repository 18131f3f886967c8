package main

import (
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

func TestReport(t *testing.T) {
	const m = "github.com/tollgate-gw/tollgate/"
	in := strings.Join([]string{
		`{"Action":"start","Package":"` + m + `a"}`,
		`{"Action":"run","Package":"` + m + `a","Test":"TestOK"}`,
		`{"Action":"pass","Package":"` + m + `a","Test":"TestOK","Elapsed":0.1}`,
		`{"Action":"skip","Package":"` + m + `a","Test":"TestSkip","Elapsed":0}`,
		`{"Action":"pass","Package":"` + m + `a","Elapsed":1.25}`,
		`{"Action":"output","Package":"` + m + `b","Test":"TestBad","Output":"=== RUN   TestBad\n"}`,
		`{"Action":"output","Package":"` + m + `b","Test":"TestBad/sub","Output":"    b_test.go:9: want 2\n"}`,
		`{"Action":"fail","Package":"` + m + `b","Test":"TestBad/sub","Elapsed":0}`,
		`{"Action":"fail","Package":"` + m + `b","Test":"TestBad","Elapsed":0}`,
		`{"Action":"fail","Package":"` + m + `b","Elapsed":2}`,
		`{"ImportPath":"` + m + `c","Action":"build-output","Output":"c/c.go:3:1: syntax error\n"}`,
		`{"Action":"output","Package":"` + m + `c","Output":"FAIL\t` + m + `c [build failed]\n"}`,
		`{"Action":"fail","Package":"` + m + `c","Elapsed":0}`,
		`{"Action":"pass","Package":"` + m + `d","Elapsed":0}`,
	}, "\n")
	clock := time.Unix(0, 0)
	now := func() time.Time { clock = clock.Add(30 * time.Second); return clock }
	var out strings.Builder
	if status := report(strings.NewReader(in), &out, now); status != 1 {
		t.Errorf("status %d, want 1", status)
	}
	want := `ok    a                                           1.2s  1 passed, 1 skipped
--- FAIL b TestBad
=== RUN   TestBad
    b_test.go:9: want 2
FAIL  b                                           2.0s  0 passed, 2 failed
c/c.go:3:1: syntax error
FAIL  c                                           0.0s  0 passed
FAIL	github.com/tollgate-gw/tollgate/c [build failed]

Go tests: 1 passed, 2 failed, 1 skipped in 3 packages (1 without tests), 30s
  FAILED: github.com/tollgate-gw/tollgate/b
  FAILED: github.com/tollgate-gw/tollgate/c
`
	if diff := cmp.Diff(want, out.String()); diff != "" {
		t.Errorf("report (-want +got):\n%s", diff)
	}
}
