package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/tollgate-gw/tollgate/internal/budget"
	"github.com/tollgate-gw/tollgate/internal/testsvc"
	"github.com/tollgate-gw/tollgate/internal/usage"
	"github.com/tollgate-gw/tollgate/internal/usage/bolt"
	"github.com/tollgate-gw/tollgate/internal/usage/dynamo"
)

// Crash safety: the gateway is a real process, killed with SIGKILL in the
// middle of a load, and restarted on the same store. Every request whose
// answer a client received in full is in the settled spend, nothing is
// charged twice, and the reservations the dead process held are charged in
// full (marked estimated) when their lease ends: the dead process may have
// been answered by Bedrock, so their cost is counted, never dropped.

// crashPrompt has a deterministic usage, so that every request costs the
// same: 100 output tokens at 10 micro-USD and a few input tokens at 0.1
// (budgetPolicy's prices).
const crashPrompt = "Count to a hundred. [sim:tokens=100] [sim:latency=150ms]"

// leaseNote says how these tests reach the end of a lease.
const leaseNote = "the tests sweep the store with a clock past the 15-minute lease, as every gateway's sweeper does each 30 s with the real clock (-budget-lease shortens the lease where that is wanted)"

// tollgateBinary builds ./cmd/server into the test's temp dir (the go
// build cache makes the second build quick).
func tollgateBinary(t *testing.T) string {
	t.Helper()
	bin := filepath.Join(t.TempDir(), "tollgate")
	if out, err := exec.Command("go", "build", "-o", bin, ".").CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	return bin
}

// gatewayProc is a gateway running as its own process.
type gatewayProc struct {
	cmd     *exec.Cmd
	baseURL string
	log     string
	done    chan struct{}
}

func startGatewayProc(t *testing.T, bin string, env []string, args ...string) *gatewayProc {
	t.Helper()
	logPath := filepath.Join(t.TempDir(), "gateway.log")
	logf, err := os.Create(logPath)
	if err != nil {
		t.Fatal(err)
	}
	defer logf.Close()
	cmd := exec.Command(bin, append([]string{"serve", "-addr", "127.0.0.1:0", "-admin-addr", "off"}, args...)...)
	cmd.Env = append([]string{"PATH=" + os.Getenv("PATH"), "HOME=" + t.TempDir(), "AWS_EC2_METADATA_DISABLED=true"}, env...)
	cmd.Stderr = logf
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	p := &gatewayProc{cmd: cmd, log: logPath, done: make(chan struct{})}
	go func() { _ = cmd.Wait(); close(p.done) }()
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		<-p.done
	})
	deadline := time.Now().Add(20 * time.Second)
	for time.Now().Before(deadline) {
		b, _ := os.ReadFile(logPath)
		for _, line := range strings.Split(string(b), "\n") {
			var rec struct{ Msg, Addr string }
			if json.Unmarshal([]byte(line), &rec) == nil && rec.Msg == "listening" {
				p.baseURL = "http://" + rec.Addr
				return p
			}
		}
		select {
		case <-p.done:
			t.Fatalf("the gateway exited: %s\n%s", cmd.ProcessState, b)
		case <-time.After(20 * time.Millisecond):
		}
	}
	b, _ := os.ReadFile(logPath)
	t.Fatalf("the gateway did not start:\n%s", b)
	return nil
}

func (p *gatewayProc) kill9(t *testing.T) {
	t.Helper()
	if err := p.cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	<-p.done
}

func (p *gatewayProc) stop(t *testing.T) {
	t.Helper()
	_ = p.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-p.done:
	case <-time.After(30 * time.Second):
		t.Fatal("the gateway did not stop on SIGTERM")
	}
}

// usageMicros is the capped key's spent and reserved micro-USD from GET /v1/usage.
func (p *gatewayProc) usageMicros(t *testing.T) (spent, reserved int64) {
	t.Helper()
	req, _ := http.NewRequest("GET", p.baseURL+"/v1/usage", nil)
	req.Header.Set("Authorization", "Bearer "+cappedSecret)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var u usageBody
	if err := json.NewDecoder(resp.Body).Decode(&u); err != nil || resp.StatusCode != 200 {
		t.Fatalf("GET /v1/usage: %d %v", resp.StatusCode, err)
	}
	return micros(u.Key.SpentUSD), micros(u.Key.ReservedUSD)
}

// crashLoad is what the clients of a load saw.
type crashLoad struct {
	mu        sync.Mutex
	completed int // answers received in full (200, whole body or [DONE])
	refused   int // 429 budget_exceeded
	cut       int // no complete answer: the gateway died under it
	other     []string
}

// post sends one capped request to base, plain or streamed, and records
// whether its answer arrived in full.
func (l *crashLoad) post(base string, stream bool) {
	req, _ := http.NewRequest("POST", base+"/v1/chat/completions", strings.NewReader(chatBody(crashPrompt, 100, stream)))
	req.Header.Set("Authorization", "Bearer "+cappedSecret)
	req.Header.Set("Content-Type", "application/json")
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	resp, err := http.DefaultClient.Do(req.WithContext(ctx))
	l.mu.Lock()
	defer l.mu.Unlock()
	if err != nil {
		l.cut++
		return
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	switch {
	case err != nil:
		l.cut++
	case resp.StatusCode == 429 && bytes.Contains(b, []byte("budget_exceeded")):
		l.refused++
	case resp.StatusCode == 200 && !stream && bytes.Contains(b, []byte(`"finish_reason":"stop"`)):
		l.completed++
	case resp.StatusCode == 200 && stream && bytes.HasSuffix(b, []byte("data: [DONE]\n\n")):
		l.completed++
	default:
		l.other = append(l.other, fmt.Sprintf("%d %.200s", resp.StatusCode, b))
	}
}

// requestCost is what one crashPrompt request costs, measured on a fresh
// gateway with the same policy.
func requestCost(t *testing.T) int64 {
	t.Helper()
	dir := t.TempDir()
	writeBudgetPolicy(t, dir, "20")
	g := startGateway(t, nil, "-sim", "-policies", dir, "-store", "memory://")
	if status, _, b := g.do(t, "POST", "/v1/chat/completions", cappedSecret, "application/json", chatBody(crashPrompt, 100, false)); status != 200 {
		t.Fatalf("%d %s", status, b)
	}
	if status, _, b := g.do(t, "POST", "/v1/chat/completions", cappedSecret, "application/json", chatBody(crashPrompt, 100, true)); status != 200 {
		t.Fatalf("%d %s", status, b)
	}
	u := g.usage(t, cappedSecret)
	two := micros(u.Key.SpentUSD)
	if two%2 != 0 || two == 0 {
		t.Fatalf("a plain and a streamed request cost %d micro-USD together: not the same each", two)
	}
	return two / 2
}

// checkLedger checks spent against what the clients saw: every completed
// request is charged, and at most the requests cut by the crash on top
// (they may have settled before the kill), each exactly once.
func checkLedger(t *testing.T, spent, cost int64, l *crashLoad) {
	t.Helper()
	if spent%cost != 0 {
		t.Errorf("spent %d micro-USD is not a whole number of %d-micro-USD requests: something was charged in part or twice", spent, cost)
	}
	charged := spent / cost
	if charged < int64(l.completed) {
		t.Errorf("LOST: %d requests answered in full, only %d charged", l.completed, charged)
	}
	if charged > int64(l.completed+l.cut) {
		t.Errorf("DOUBLE CHARGE: %d charged, but only %d answered and %d cut", charged, l.completed, l.cut)
	}
}

// checkHeld is checkLedger for a moment when settlements may still be on
// their way: each of the completed answers is charged or its reservation
// still held, and the settled spend is whole requests, no more than could
// have been served.
func checkHeld(t *testing.T, spent, reserved, cost int64, completed, served int) {
	t.Helper()
	if spent%cost != 0 {
		t.Errorf("spent %d micro-USD is not a whole number of %d-micro-USD requests: something was charged in part or twice", spent, cost)
	}
	if spent+reserved < int64(completed)*cost {
		t.Errorf("LOST: %d requests answered in full, only %d micro-USD charged and %d held", completed, spent, reserved)
	}
	if spent/cost > int64(served) {
		t.Errorf("DOUBLE CHARGE: %d charged, but only %d answered or cut", spent/cost, served)
	}
}

// TestCrashBolt kills the gateway with SIGKILL mid-load on a bbolt store and
// restarts it on the same file.
func TestCrashBolt(t *testing.T) {
	cost := requestCost(t)
	dir := t.TempDir()
	writeBudgetPolicy(t, dir, "20")
	dbPath := filepath.Join(t.TempDir(), "usage.db")
	args := []string{"-sim", "-policies", dir, "-store", "bolt://" + dbPath}
	bin := tollgateBinary(t)
	g := startGatewayProc(t, bin, nil, args...)

	var l crashLoad
	var wg sync.WaitGroup
	var stop atomic.Bool
	for w := range 12 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; !stop.Load(); i++ {
				l.post(g.baseURL, (w+i)%2 == 0)
			}
		}()
	}
	time.Sleep(2 * time.Second)
	stop.Store(true) // no new requests; the 12 in flight are cut by the kill
	g.kill9(t)
	wg.Wait()
	t.Logf("before the kill: %d answered in full, %d cut by it, cost %d micro-USD each", l.completed, l.cut, cost)
	if l.completed == 0 || l.cut == 0 || len(l.other) > 0 {
		t.Fatalf("the load did not run as planned: %+v", l.other)
	}

	g2 := startGatewayProc(t, bin, nil, args...)
	spent, reserved := g2.usageMicros(t)
	t.Logf("after the restart: spent %d, reserved %d micro-USD", spent, reserved)
	checkLedger(t, spent, cost, &l)
	if reserved <= 0 {
		t.Errorf("nothing reserved after a crash that cut %d requests: their reservations should hold until their lease", l.cut)
	}
	// The restarted gateway serves and charges as before.
	before := spent
	l2 := crashLoad{}
	l2.post(g2.baseURL, false)
	if spent, _ = g2.usageMicros(t); l2.completed != 1 || spent != before+cost {
		t.Errorf("after the restart a request was answered %d and charged %d", l2.completed, spent-before)
	}
	g2.stop(t)

	// The leaked reservations are charged at the end of their lease: sweep
	// the file with a clock past it (the gateway's sweeper does the same
	// every 30 s with the real clock).
	t.Log(leaseNote)
	past := time.Now().Add(budget.DefaultLease + time.Minute)
	s, err := bolt.Open(dbPath, bolt.WithClock(func() time.Time { return past }))
	if err != nil {
		t.Fatal(err)
	}
	n, err := s.Sweep(context.Background(), past)
	s.Close()
	if err != nil || n == 0 {
		t.Fatalf("sweep past the lease released %d reservations: %v", n, err)
	}
	g3 := startGatewayProc(t, bin, nil, args...)
	spent3, reserved3 := g3.usageMicros(t)
	if reserved3 != 0 || spent3 != spent+reserved {
		t.Errorf("after the lease: spent %d (was %d), reserved %d, want nothing reserved and the %d held charged", spent3, spent, reserved3, reserved)
	}
	t.Logf("the sweep charged %d leaked reservations (%d micro-USD, estimated)", n, reserved)
}

// TestCrashDynamoDBTwoGateways: two gateway processes share a DynamoDB
// Local table and 200 requests on a key whose cap affords about 50. One is
// killed with SIGKILL in the middle: the cap still holds across both, no
// answered request is lost, none is charged twice, and the dead process's
// reservations are released when their lease ends.
func TestCrashDynamoDBTwoGateways(t *testing.T) {
	cost := requestCost(t)
	endpoint := testsvc.DynamoDB(t)
	env := []string{"AWS_ENDPOINT_URL_DYNAMODB=" + endpoint, "AWS_ACCESS_KEY_ID=local", "AWS_SECRET_ACCESS_KEY=local", "AWS_REGION=us-east-1"}
	for _, kv := range env {
		k, v, _ := strings.Cut(kv, "=")
		t.Setenv(k, v)
	}
	table := fmt.Sprintf("crash_%d", time.Now().UnixNano())
	if err := run(context.Background(), []string{"store", "init", "-store", "dynamodb://" + table}, func(string) string { return "" }, io.Discard, io.Discard); err != nil {
		t.Fatalf("store init: %v", err)
	}
	dir := t.TempDir()
	writeBudgetPolicy(t, dir, "0.05")
	args := []string{"-sim", "-policies", dir, "-store", "dynamodb://" + table}
	bin := tollgateBinary(t)
	a := startGatewayProc(t, bin, env, args...)
	b := startGatewayProc(t, bin, env, args...)

	var l crashLoad
	var wg sync.WaitGroup
	const n = 200
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			time.Sleep(time.Duration(i) * 4 * time.Millisecond) // spread over 0.8 s
			if i%2 == 0 {
				l.post(a.baseURL, i%4 == 0)
			} else {
				l.post(b.baseURL, i%4 == 1)
			}
		}()
	}
	time.Sleep(400 * time.Millisecond) // about half of a's requests sent, some answered, some in flight
	a.kill9(t)
	wg.Wait()
	t.Logf("%d answered in full, %d refused at the cap, %d cut by the kill or sent to the dead process; cost %d micro-USD each", l.completed, l.refused, l.cut, cost)
	if len(l.other) > 0 {
		t.Errorf("unexpected answers: %q", l.other)
	}
	if l.completed+l.refused+l.cut+len(l.other) != n {
		t.Errorf("%d outcomes for %d requests", l.completed+l.refused+l.cut+len(l.other), n)
	}

	spent, reserved := b.usageMicros(t)
	t.Logf("spent %d, reserved %d micro-USD of 50000", spent, reserved)
	if spent+reserved > 50000 {
		t.Errorf("spent %d + reserved %d micro-USD is over the 50,000 cap", spent, reserved)
	}
	// A settlement may still be on its way (b defers one the store is slow
	// to take; a died holding some): what every answered request cost is
	// charged or still held, and nothing is charged twice.
	checkHeld(t, spent, reserved, cost, l.completed, l.completed+l.cut)

	// Restarted, a takes part again and the cap still holds.
	a2 := startGatewayProc(t, bin, env, args...)
	var l2 crashLoad
	for range 20 {
		wg.Add(2)
		go func() { defer wg.Done(); l2.post(a2.baseURL, false) }()
		go func() { defer wg.Done(); l2.post(b.baseURL, true) }()
	}
	wg.Wait()
	spent2, reserved2 := b.usageMicros(t)
	if spent2+reserved2 > 50000 || len(l2.other) > 0 || l2.cut > 0 {
		t.Errorf("after the restart: spent %d, reserved %d; answered %d, cut %d, other %q", spent2, reserved2, l2.completed, l2.cut, l2.other)
	}
	checkHeld(t, spent2, reserved2, cost, l.completed+l2.completed, l.completed+l.cut+l2.completed)

	// Past the lease, any gateway's sweep charges the dead one's holds.
	t.Log(leaseNote)
	s := dynamo.Open(testsvc.DynamoDBClient(t), table)
	released, err := s.Sweep(context.Background(), time.Now().Add(budget.DefaultLease+time.Minute))
	if err != nil {
		t.Fatal(err)
	}
	spent3, reserved3 := b.usageMicros(t)
	if reserved3 != 0 || spent3 > spent2+reserved2 {
		t.Errorf("after the lease: spent %d (was %d), reserved %d, want at most the %d held charged and nothing held", spent3, spent2, reserved3, reserved2)
	}
	if want := int64(l.completed+l2.completed) * cost; spent3 < want {
		t.Errorf("LOST: after the lease %d micro-USD charged for %d answered requests of %d each", spent3, l.completed+l2.completed, cost)
	}
	t.Logf("the sweep charged %d leaked reservations (%d micro-USD, estimated)", released, reserved2)
	var _ usage.Store = s
}
