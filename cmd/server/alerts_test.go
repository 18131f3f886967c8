package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/tollgate-gw/tollgate/internal/alert"
	"github.com/tollgate-gw/tollgate/internal/alert/awsfake"
	"github.com/tollgate-gw/tollgate/internal/policy"
	"github.com/tollgate-gw/tollgate/internal/testsvc"
)

// TestAlertsTwoGateways drives a $0.01 key across 50 %, 80 % and 100 %
// through two gateway processes sharing a DynamoDB table (DynamoDB Local):
// the webhook receives exactly three alerts, each validly signed, and the
// SNS and EventBridge stand-ins three each.
func TestAlertsTwoGateways(t *testing.T) {
	endpoint := testsvc.DynamoDB(t)
	const secret = "whsec-test"
	var mu sync.Mutex
	var got []alert.Payload
	var bad []string
	hook := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		mu.Lock()
		defer mu.Unlock()
		if sig := r.Header.Get(alert.SignatureHeader); sig != alert.Sign([]byte(secret), body) {
			bad = append(bad, "bad signature "+sig)
		}
		var p alert.Payload
		if err := json.Unmarshal(body, &p); err != nil {
			bad = append(bad, err.Error())
		}
		got = append(got, p)
	}))
	defer hook.Close()
	fsns, feb := awsfake.NewSNS(), awsfake.NewEventBridge()
	defer fsns.Close()
	defer feb.Close()

	env := []string{"AWS_ENDPOINT_URL_DYNAMODB=" + endpoint, "AWS_ACCESS_KEY_ID=local", "AWS_SECRET_ACCESS_KEY=local", "AWS_REGION=us-east-1"}
	for _, kv := range env {
		k, v, _ := strings.Cut(kv, "=")
		t.Setenv(k, v)
	}
	table := fmt.Sprintf("alerts_%d", time.Now().UnixNano())
	if err := run(context.Background(), []string{"store", "init", "-store", "dynamodb://" + table}, func(string) string { return "" }, io.Discard, io.Discard); err != nil {
		t.Fatalf("store init: %v", err)
	}
	dir := t.TempDir()
	body := fmt.Sprintf(`keys:
  - id: capped
    sha256: %q
    monthly_budget_usd: 0.01
    alert_at: [0.5, 0.8]
pricing:
  anthropic.claude-3-haiku-20240307-v1:0: {input: 0.1, output: 10}
alerts:
  webhook:
    url: %s
  sns:
    topic_arn: arn:aws:sns:us-east-1:123456789012:budget
  eventbridge:
    event_bus: ops
`, policy.HashSecret(cappedSecret), hook.URL)
	if err := os.WriteFile(filepath.Join(dir, "policy.yaml"), []byte(body), 0o644); err != nil {
		t.Fatal(err)
	}
	env = append(env, "TOLLGATE_ALERT_WEBHOOK_SECRET="+secret, "AWS_ENDPOINT_URL_SNS="+fsns.URL, "AWS_ENDPOINT_URL_EVENTBRIDGE="+feb.URL)
	args := []string{"-sim", "-policies", dir, "-store", "dynamodb://" + table}
	bin := tollgateBinary(t)
	gws := []*gatewayProc{startGatewayProc(t, bin, env, args...), startGatewayProc(t, bin, env, args...)}

	refused := 0
	for i := 0; i < 60 && refused < 3; i++ {
		req, _ := http.NewRequest("POST", gws[i%2].baseURL+"/v1/chat/completions", strings.NewReader(chatBody("Count. [sim:tokens=100]", 100, false)))
		req.Header.Set("Authorization", "Bearer "+cappedSecret)
		req.Header.Set("Content-Type", "application/json")
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		switch resp.StatusCode {
		case 200:
		case 429:
			refused++
		default:
			t.Fatalf("status %d: %s", resp.StatusCode, b)
		}
	}
	if refused == 0 {
		t.Fatal("the key was never refused")
	}
	deadline := time.Now().Add(20 * time.Second)
	for time.Now().Before(deadline) {
		mu.Lock()
		n := len(got)
		mu.Unlock()
		if n >= 3 && len(fsns.Published()) >= 3 && len(feb.Events()) >= 3 {
			break
		}
		time.Sleep(100 * time.Millisecond)
	}
	time.Sleep(time.Second) // a fourth delivery would arrive by now
	mu.Lock()
	defer mu.Unlock()
	var thresholds []float64
	for _, p := range got {
		if p.Scope != "key" || p.ID != "capped" || p.Limit != 0.01 || p.Period != time.Now().UTC().Format("2006-01") {
			t.Errorf("payload %+v", p)
		}
		thresholds = append(thresholds, p.Threshold)
	}
	slices.Sort(thresholds)
	if !slices.Equal(thresholds, []float64{0.5, 0.8, 1}) {
		t.Errorf("webhook got alerts at %v, want exactly [0.5 0.8 1]", thresholds)
	}
	if len(bad) > 0 {
		t.Errorf("webhook: %q", bad)
	}
	if n := len(fsns.Published()); n != 3 {
		t.Errorf("SNS got %d alerts, want 3", n)
	}
	if n := len(feb.Events()); n != 3 {
		t.Errorf("EventBridge got %d alerts, want 3", n)
	}
}
