package budget_test

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"math/rand/v2"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/tollgate-gw/tollgate/internal/budget"
	"github.com/tollgate-gw/tollgate/internal/usage"
	"github.com/tollgate-gw/tollgate/internal/usage/memory"
)

// faultyStore is a usage.Store whose Settle calls go wrong in phases: slow
// (each call takes delay, and gives up with the caller's context), failing
// (each call fails as an unreachable store does), then healthy. Reserve and
// the reads always work, so that a test can admit requests first and watch
// the totals throughout.
type faultyStore struct {
	usage.Store
	delay   time.Duration
	mode    atomic.Int32 // a faultMode
	settles atomic.Int64 // Settle calls
}

type faultMode int32

const (
	healthy faultMode = iota
	slow
	failing
)

var errDown = fmt.Errorf("%w: test outage", usage.ErrUnavailable)

func (s *faultyStore) set(m faultMode) { s.mode.Store(int32(m)) }

func (s *faultyStore) Settle(ctx context.Context, r *usage.Reservation, actual int64) (bool, error) {
	s.settles.Add(1)
	switch faultMode(s.mode.Load()) {
	case failing:
		return false, errDown
	case slow:
		t := time.NewTimer(s.delay)
		defer t.Stop()
		select {
		case <-ctx.Done():
			return false, fmt.Errorf("%w: %w", usage.ErrUnavailable, ctx.Err())
		case <-t.C:
		}
	}
	return s.Store.Settle(ctx, r, actual)
}

// deferrals records what OnDeferred was told.
type deferrals struct {
	mu  sync.Mutex
	got map[budget.DeferredState]int
	err []error
}

func (d *deferrals) record(x budget.Deferred) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.got == nil {
		d.got = map[budget.DeferredState]int{}
	}
	d.got[x.State]++
	if x.State == budget.DeferredAbandoned {
		d.err = append(d.err, x.Err)
	}
}

func (d *deferrals) counts() map[budget.DeferredState]int {
	d.mu.Lock()
	defer d.mu.Unlock()
	return maps.Clone(d.got)
}

const outagePolicy = `
keys:
  - id: alice
    sha256: "#alice"
    monthly_budget_usd: 1000
`

// admitMany admits n requests of alice on g and returns their tickets and
// the cost each will settle at (random, within its worst case).
func admitMany(t *testing.T, g *budget.Guard, f *fixture, n int) ([]*budget.Ticket, []budget.Usage) {
	t.Helper()
	tickets := make([]*budget.Ticket, n)
	uses := make([]budget.Usage, n)
	for i := range n {
		r := f.req(t, "alice")
		r.InputBytes, r.MaxOutput = 400, 200
		tk, err := g.Admit(context.Background(), r)
		if err != nil {
			t.Fatalf("Admit: %v", err)
		}
		rnd := rand.New(rand.NewPCG(uint64(i), 7))
		tickets[i] = tk
		uses[i] = budget.Usage{Input: 1 + rnd.Int64N(100), Output: rnd.Int64N(int64(tk.MaxOutput) + 1)}
	}
	return tickets, uses
}

// TestSettlementSurvivesOutage: 200 requests served by Bedrock settle while
// the store is slow, then down, then back. No settlement is lost: while the
// store is out, what counts against the cap (spent + reserved) never drops
// below what Bedrock reported; once it is back, settled spend equals it
// exactly and nothing stays reserved.
func TestSettlementSurvivesOutage(t *testing.T) {
	const n = 200
	clk := &fakeClock{t: midNovember}
	mem := memory.New(memory.WithClock(clk.Now))
	t.Cleanup(func() { mem.Close() })
	store := &faultyStore{Store: mem, delay: 300 * time.Millisecond}
	var seen deferrals
	g := budget.New(store, budget.Options{Now: clk.Now, SettleWait: 100 * time.Millisecond, OnDeferred: seen.record})
	f := &fixture{clock: clk, pol: parsePolicy(t, outagePolicy)}
	tickets, uses := admitMany(t, g, f, n)
	alice := keyScope("alice")

	var reported int64 // what Bedrock billed: every request was served
	for i, tk := range tickets {
		reported += tk.Price.Cost(uses[i].Input, uses[i].Output, 0, 0)
	}

	// The monitor reads the backing store directly, as the cap check does.
	stop := make(chan struct{})
	monitor := make(chan error, 1)
	go func() {
		defer close(monitor)
		for {
			got, err := mem.Totals(context.Background(), "2026-11", []usage.Scope{alice})
			if err != nil {
				monitor <- err
				return
			}
			if c := got[alice].Committed(); c < reported {
				monitor <- fmt.Errorf("committed %d < %d reported by Bedrock: spend was lost (%+v)", c, reported, got[alice])
				return
			}
			select {
			case <-stop:
				return
			case <-time.After(time.Millisecond):
			}
		}
	}()

	store.set(slow)
	var wg sync.WaitGroup
	results := make([]budget.Settlement, n)
	for i, tk := range tickets {
		wg.Go(func() {
			s, err := tk.Settle(context.Background(), uses[i])
			if err != nil {
				t.Errorf("Settle: %v", err)
			}
			results[i] = s
		})
	}
	time.Sleep(50 * time.Millisecond)
	store.set(failing) // the slow calls in flight fail too once their wait ends
	wg.Wait()
	deferred := 0
	for _, s := range results {
		if s.Deferred {
			deferred++
		}
	}
	if deferred != n {
		t.Errorf("%d of %d settlements deferred, want all: the store was never reachable within SettleWait", deferred, n)
	}
	if p := g.Pending(); p != n {
		t.Errorf("Pending() = %d, want %d", p, n)
	}
	time.Sleep(time.Second) // down for a while: background retries fail
	store.set(healthy)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := g.Flush(ctx); err != nil {
		t.Fatalf("Flush: %v", err)
	}
	close(stop)
	if err := <-monitor; err != nil {
		t.Fatal(err)
	}
	got, err := mem.Totals(context.Background(), "2026-11", []usage.Scope{alice})
	if err != nil {
		t.Fatal(err)
	}
	if d := cmp.Diff(usage.Totals{Spent: reported}, got[alice]); d != "" {
		t.Errorf("totals once the store is back (-want +got):\n%s", d)
	}
	if d := cmp.Diff(map[budget.DeferredState]int{budget.DeferredPending: n, budget.DeferredRecorded: n}, seen.counts()); d != "" {
		t.Errorf("OnDeferred reports (-want +got):\n%s", d)
	}
	if p := g.Pending(); p != 0 {
		t.Errorf("Pending() after Flush = %d, want 0", p)
	}
}

// TestSettlementOutageOutlastsLease: when the store stays down past the
// leases, retries stop and each reservation is charged at its worst case,
// marked estimated: an over-count, never an under-count.
func TestSettlementOutageOutlastsLease(t *testing.T) {
	const n = 20
	clk := &fakeClock{t: midNovember}
	mem := memory.New(memory.WithClock(clk.Now))
	t.Cleanup(func() { mem.Close() })
	store := &faultyStore{Store: mem}
	var seen deferrals
	g := budget.New(store, budget.Options{Now: clk.Now, Lease: time.Minute, SettleWait: 10 * time.Millisecond, OnDeferred: seen.record})
	f := &fixture{clock: clk, pol: parsePolicy(t, outagePolicy)}
	tickets, uses := admitMany(t, g, f, n)
	alice := keyScope("alice")
	before, err := mem.Totals(context.Background(), "2026-11", []usage.Scope{alice})
	if err != nil {
		t.Fatal(err)
	}
	held := before[alice].Reserved

	store.set(failing)
	for i, tk := range tickets {
		if s, err := tk.Settle(context.Background(), uses[i]); err != nil || !s.Deferred {
			t.Fatalf("Settle = %+v, %v; want deferred", s, err)
		}
	}
	clk.Set(midNovember.Add(time.Minute + time.Second)) // the leases end
	deadline := time.Now().Add(30 * time.Second)
	for g.Pending() > 0 && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	if p := g.Pending(); p != 0 {
		t.Fatalf("%d settlements still retried after their lease ended", p)
	}
	if n, err := mem.Sweep(context.Background(), clk.Now()); err != nil || n != len(tickets) {
		t.Fatalf("Sweep = %d, %v; want %d", n, err, len(tickets))
	}
	store.set(healthy)
	got, err := mem.Totals(context.Background(), "2026-11", []usage.Scope{alice})
	if err != nil {
		t.Fatal(err)
	}
	if d := cmp.Diff(usage.Totals{Spent: held, Estimated: held}, got[alice]); d != "" {
		t.Errorf("totals after the leases ended (-want +got):\n%s", d)
	}
	if d := cmp.Diff(map[budget.DeferredState]int{budget.DeferredPending: n, budget.DeferredAbandoned: n}, seen.counts()); d != "" {
		t.Errorf("OnDeferred reports (-want +got):\n%s", d)
	}
}

// TestFlushStopsRetries: Flush waits for deferred settlements only until
// its context ends; then the retries stop (no store call after Flush
// returns), each is reported abandoned, and a settlement failing after
// Flush is not deferred but returned as an error.
func TestFlushStopsRetries(t *testing.T) {
	const n = 10
	clk := &fakeClock{t: midNovember}
	mem := memory.New(memory.WithClock(clk.Now))
	t.Cleanup(func() { mem.Close() })
	store := &faultyStore{Store: mem}
	var seen deferrals
	g := budget.New(store, budget.Options{Now: clk.Now, SettleWait: 10 * time.Millisecond, OnDeferred: seen.record})
	f := &fixture{clock: clk, pol: parsePolicy(t, outagePolicy)}
	tickets, uses := admitMany(t, g, f, n+1)
	store.set(failing)
	for i, tk := range tickets[:n] {
		if s, err := tk.Settle(context.Background(), uses[i]); err != nil || !s.Deferred {
			t.Fatalf("Settle = %+v, %v; want deferred", s, err)
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), 500*time.Millisecond)
	defer cancel()
	start := time.Now()
	err := g.Flush(ctx)
	if !errors.Is(err, budget.ErrFlushed) || !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Flush = %v, want ErrFlushed and the deadline", err)
	}
	if took := time.Since(start); took > 10*time.Second {
		t.Errorf("Flush took %v after its 500ms deadline", took)
	}
	if p := g.Pending(); p != 0 {
		t.Errorf("Pending() after Flush = %d, want 0", p)
	}
	calls := store.settles.Load()
	time.Sleep(time.Second)
	if later := store.settles.Load(); later != calls {
		t.Errorf("%d store calls after Flush returned", later-calls)
	}
	if d := cmp.Diff(map[budget.DeferredState]int{budget.DeferredPending: n, budget.DeferredAbandoned: n}, seen.counts()); d != "" {
		t.Errorf("OnDeferred reports (-want +got):\n%s", d)
	}
	for _, err := range seen.err {
		if !errors.Is(err, budget.ErrFlushed) || !errors.Is(err, usage.ErrUnavailable) {
			t.Errorf("abandoned with %v, want ErrFlushed wrapping the store's error", err)
		}
	}
	// After Flush nothing is deferred: the caller gets the error.
	s, err := tickets[n].Settle(context.Background(), uses[n])
	if !errors.Is(err, usage.ErrUnavailable) || s.Deferred {
		t.Errorf("Settle after Flush = %+v, %v; want ErrUnavailable, not deferred", s, err)
	}
	if err := g.Flush(context.Background()); err != nil {
		t.Errorf("second Flush: %v", err)
	}
}
