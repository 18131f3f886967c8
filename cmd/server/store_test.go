package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/tollgate-gw/tollgate/internal/policy"
	"github.com/tollgate-gw/tollgate/internal/testsvc"
)

// useDynamoDB points the AWS configuration of the process at endpoint and
// creates the usage table, returning its -store URL.
func useDynamoDB(t *testing.T, endpoint, table string) string {
	t.Helper()
	t.Setenv("AWS_ENDPOINT_URL_DYNAMODB", endpoint)
	t.Setenv("AWS_ACCESS_KEY_ID", "local")
	t.Setenv("AWS_SECRET_ACCESS_KEY", "local")
	t.Setenv("AWS_REGION", "us-east-1")
	t.Setenv("AWS_EC2_METADATA_DISABLED", "true")
	store := "dynamodb://" + table
	if err := run(context.Background(), []string{"store", "init", "-store", store}, func(string) string { return "" }, io.Discard, io.Discard); err != nil {
		t.Fatalf("store init: %v", err)
	}
	return store
}

// TestServeRefusesMissingTable: serve on a DynamoDB table that does not
// exist stops at start-up with a message naming the table, the region and
// the command that creates it, instead of answering 503s.
func TestServeRefusesMissingTable(t *testing.T) {
	useDynamoDB(t, testsvc.DynamoDB(t), "usage_exists")
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	var logs bytes.Buffer
	err := run(ctx, []string{"serve", "-sim", "-addr", "127.0.0.1:0", "-admin-addr", "off", "-policies", t.TempDir(), "-store", "dynamodb://usage_missing"},
		func(string) string { return "" }, io.Discard, &logs)
	if err == nil {
		t.Fatal("serve started on a missing table")
	}
	for _, want := range []string{`"usage_missing"`, "us-east-1", "tollgate store init -store dynamodb://usage_missing"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q lacks %q", err, want)
		}
	}
	if strings.Contains(logs.String(), `"listening"`) {
		t.Errorf("serve listened before failing:\n%s", logs.String())
	}
}

// dynamoCounter is a proxy before DynamoDB Local that counts the write
// requests (TransactWriteItems, and any single-item write) and the counter
// items they write.
type dynamoCounter struct {
	down     atomic.Bool // answer every write with a 500, as DynamoDB in an outage
	mu       sync.Mutex
	writes   int            // write requests
	counters int            // counter items (pk TOT#...) written
	byOp     map[string]int // requests per operation
}

func (c *dynamoCounter) snapshot() (writes, counters int) {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.writes, c.counters
}

func newDynamoCounter(t *testing.T, endpoint string) (*dynamoCounter, string) {
	t.Helper()
	target, err := url.Parse(endpoint)
	if err != nil {
		t.Fatal(err)
	}
	c := &dynamoCounter{byOp: map[string]int{}}
	proxy := httputil.NewSingleHostReverseProxy(target)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		r.Body = io.NopCloser(bytes.NewReader(body))
		op := strings.TrimPrefix(r.Header.Get("X-Amz-Target"), "DynamoDB_20120810.")
		var req struct {
			TransactItems []map[string]struct {
				Key, Item map[string]map[string]json.RawMessage
			}
		}
		c.mu.Lock()
		c.byOp[op]++
		switch op {
		case "TransactWriteItems", "PutItem", "UpdateItem", "DeleteItem", "BatchWriteItem":
			c.writes++
			if json.Unmarshal(body, &req) == nil {
				for _, ti := range req.TransactItems {
					for kind, it := range ti {
						raw := it.Key["pk"]["S"]
						if kind == "Put" {
							raw = it.Item["pk"]["S"]
						}
						var pk string
						_ = json.Unmarshal(raw, &pk)
						if kind != "ConditionCheck" && strings.HasPrefix(pk, "TOT#") {
							c.counters++
						}
					}
				}
			}
		}
		c.mu.Unlock()
		if c.down.Load() && strings.Contains(op, "Write") {
			w.Header().Set("Content-Type", "application/x-amz-json-1.0")
			w.WriteHeader(http.StatusInternalServerError)
			io.WriteString(w, `{"__type":"com.amazonaws.dynamodb.v20120810#InternalServerError","message":"test outage"}`)
			return
		}
		proxy.ServeHTTP(w, r)
	}))
	t.Cleanup(srv.Close)
	return c, srv.URL
}

// TestDynamoWritesPerRequest counts the DynamoDB write requests a model
// request costs: a capped key's is one transaction to reserve and one to
// settle, each writing only the key's counter (and one more per period
// capped besides the month) (the global counter is not
// written when the gateway has no global cap: it would be one hot item for
// every request); an uncapped key's is one transaction to settle. A rate
// limit adds two single-item writes of the key's window: one to admit, one
// to release.
func TestDynamoWritesPerRequest(t *testing.T) {
	counter, endpoint := newDynamoCounter(t, testsvc.DynamoDB(t))
	store := useDynamoDB(t, endpoint, "usage_writes")
	dir := t.TempDir()
	writeBudgetPolicy(t, dir, "20")
	writeRatePolicy(t, dir, "rate.yaml")
	const dailySecret = "sk-test-daily-0123456789"
	daily := fmt.Sprintf("keys:\n  - id: daily\n    sha256: %q\n    daily_budget_usd: 5\n    monthly_budget_usd: 20\n", policy.HashSecret(dailySecret))
	if err := os.WriteFile(filepath.Join(dir, "daily.yaml"), []byte(daily), 0o644); err != nil {
		t.Fatal(err)
	}
	g := startGateway(t, nil, "-sim", "-policies", dir, "-store", store)
	const n = 10
	tests := []struct {
		name                             string
		secret                           string
		wantWrites, wantCounterPerSecret int
	}{
		{"capped key", cappedSecret, 2, 2},
		{"uncapped key", freeSecret, 1, 1},
		{"uncapped key with a rate limit", rateSecret, 3, 1},
		// Each capped period is a counter of its own, in the same two
		// transactions.
		{"key capped by the day and the month", dailySecret, 2, 4},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			w0, c0 := counter.snapshot()
			for range n {
				if status, _, b := g.do(t, "POST", "/v1/chat/completions", tt.secret, "application/json", chatBody("hi [sim:tokens=5]", 10, false)); status != 200 {
					t.Fatalf("%d %s", status, b)
				}
			}
			w1, c1 := counter.snapshot()
			perReq, countersPerReq := float64(w1-w0)/n, float64(c1-c0)/n
			t.Logf("%s: %.1f DynamoDB write requests and %.1f counter writes per model request", tt.name, perReq, countersPerReq)
			if perReq != float64(tt.wantWrites) || countersPerReq != float64(tt.wantCounterPerSecret) {
				t.Errorf("%.1f write requests (%.1f counter items) per model request, want %d (%d)",
					perReq, countersPerReq, tt.wantWrites, tt.wantCounterPerSecret)
			}
		})
	}
}

// TestShutdownFlushesSettlements: a request is answered while DynamoDB
// cannot take writes, so its settlement is deferred; DynamoDB comes back
// and the gateway is stopped at once. Shutdown waits for the settlement
// (Guard.Flush) before it stops the background work and closes the store,
// so the spend is recorded exactly and nothing stays reserved.
func TestShutdownFlushesSettlements(t *testing.T) {
	body := chatBody("hi [sim:tokens=100] [sim:latency=1s]", 100, false)
	dir := t.TempDir()
	writeBudgetPolicy(t, dir, "20")
	// What the request costs, from a gateway on a memory store.
	ref := startGateway(t, nil, "-sim", "-policies", dir, "-store", "memory://")
	if status, _, b := ref.do(t, "POST", "/v1/chat/completions", cappedSecret, "application/json", body); status != 200 {
		t.Fatalf("%d %s", status, b)
	}
	cost := int64(ref.usage(t, cappedSecret).Key.SpentUSD*1e6 + 0.5)

	counter, endpoint := newDynamoCounter(t, testsvc.DynamoDB(t))
	store := useDynamoDB(t, endpoint, "usage_shutdown")
	g := startGateway(t, nil, "-sim", "-policies", dir, "-store", store)
	done := make(chan int, 1)
	go func() {
		status, _, _ := g.do(t, "POST", "/v1/chat/completions", cappedSecret, "application/json", body)
		done <- status
	}()
	time.Sleep(500 * time.Millisecond) // reserved; Bedrock still answering
	counter.down.Store(true)
	if status := <-done; status != 200 {
		t.Fatalf("status %d, want 200: a settlement that cannot land must not fail the request", status)
	}
	// The deferral is logged once the settlement gave up waiting (at most
	// budget.SettleWait); a busy machine may answer the client first.
	waitFor(t, 30*time.Second, func() bool { return strings.Contains(g.logs.String(), "budget settlement deferred") })
	counter.down.Store(false)
	if err := g.stop(); err != nil {
		t.Fatal(err)
	}
	logs := g.logs.String()
	recorded, stopped := strings.Index(logs, "deferred budget settlement recorded"), strings.Index(logs, `"msg":"stopped"`)
	if recorded < 0 || stopped < 0 || recorded > stopped {
		t.Fatalf("the deferred settlement was not recorded before the gateway stopped:\n%s", logs)
	}

	// A fresh gateway on the table sees the request's exact cost, settled.
	g2 := startGateway(t, nil, "-sim", "-policies", dir, "-store", store)
	u := g2.usage(t, cappedSecret)
	if u.Key.ReservedUSD != 0 || u.Key.SpentUSD <= 0 {
		t.Errorf("after the restart: spent %v, reserved %v USD; want the request settled", u.Key.SpentUSD, u.Key.ReservedUSD)
	}
	if got := int64(u.Key.SpentUSD*1e6 + 0.5); got != cost {
		t.Errorf("spent %d micro-USD, want %d (one request)", got, cost)
	}
}
