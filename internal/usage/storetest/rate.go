package storetest

import (
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/tollgate-gw/tollgate/internal/usage"
)

// runRate runs the rate-limit properties on the Limiter of stores made by
// newStore (every backend's Store is a usage.Limiter).
func runRate(t *testing.T, newStore NewStore) {
	limiter := func(t *testing.T, now func() time.Time) usage.Limiter {
		s := newStore(t, now)
		l, ok := s.(usage.Limiter)
		if !ok {
			t.Fatalf("%T is no usage.Limiter", s)
		}
		return l
	}
	t.Run("RequestsWindowEdges", func(t *testing.T) {
		clk := NewClock()
		l := limiter(t, clk.Now)
		lim := usage.RateLimit{Scope: keyA, Requests: 3}
		t0 := clk.Now()
		for i, at := range []time.Duration{0, 10 * time.Second, 20 * time.Second} {
			st := mustAcquire(t, l, adm(fmt.Sprint("r", i), t0.Add(at), 0, lim))
			want := usage.RateState{Limit: lim, Requests: int64(i + 1), InFlight: int64(i + 1),
				RequestsReset: time.Minute - at, TokensReset: time.Minute - at}
			if d := cmp.Diff([]usage.RateState{want}, st); d != "" {
				t.Fatalf("state after admission %d (-want +got):\n%s", i, d)
			}
		}
		wantRefusal(t, l, adm("r3", t0.Add(30*time.Second), 0, lim), "requests", 30*time.Second)
		wantRefusal(t, l, adm("r4", t0.Add(time.Minute-time.Millisecond), 0, lim), "requests", time.Millisecond)
		// At exactly 60 s the first admission has left the window.
		mustAcquire(t, l, adm("r5", t0.Add(time.Minute), 0, lim))
		wantRefusal(t, l, adm("r6", t0.Add(time.Minute+time.Second), 0, lim), "requests", 9*time.Second)
	})
	t.Run("TokensCorrectedAtRelease", func(t *testing.T) {
		clk := NewClock()
		l := limiter(t, clk.Now)
		lim := usage.RateLimit{Scope: keyA, Tokens: 1000}
		t0 := clk.Now()
		mustAcquire(t, l, adm("t1", t0, 600, lim))
		mustAcquire(t, l, adm("t2", t0.Add(5*time.Second), 300, lim))
		// 600 + 300 + 500 > 1000: 400 must leave, the first's 600 does at 60 s.
		wantRefusal(t, l, adm("t3", t0.Add(10*time.Second), 500, lim), "tokens", 50*time.Second)
		// More than the limit alone: never fits.
		wantRefusal(t, l, adm("t4", t0.Add(10*time.Second), 1001, lim), "tokens", 0)
		// The first request used 100 tokens, not its worst case of 600.
		if err := l.Release(t.Context(), &usage.RateRelease{ID: "t1", Scopes: []usage.Scope{keyA}, Tokens: 100, Now: t0.Add(11 * time.Second)}); err != nil {
			t.Fatal(err)
		}
		st := mustAcquire(t, l, adm("t5", t0.Add(12*time.Second), 500, lim))
		if st[0].Tokens != 900 || st[0].InFlight != 2 {
			t.Fatalf("after release: %+v, want 900 tokens, 2 in flight", st[0])
		}
	})
	t.Run("Concurrent", func(t *testing.T) {
		clk := NewClock()
		l := limiter(t, clk.Now)
		lim := usage.RateLimit{Scope: keyA, Concurrent: 2}
		t0 := clk.Now()
		mustAcquire(t, l, adm("c1", t0, 0, lim))
		mustAcquire(t, l, adm("c2", t0, 0, lim))
		wantRefusal(t, l, adm("c3", t0, 0, lim), "concurrent", time.Second)
		if err := l.Release(t.Context(), &usage.RateRelease{ID: "c1", Scopes: []usage.Scope{keyA}, Now: t0}); err != nil {
			t.Fatal(err)
		}
		mustAcquire(t, l, adm("c4", t0, 0, lim))
		// c2's and c4's leases (a minute) end: their slots free.
		mustAcquire(t, l, adm("c5", t0.Add(lease), 0, lim))
	})
	t.Run("AtomicAcrossScopes", func(t *testing.T) {
		clk := NewClock()
		l := limiter(t, clk.Now)
		k, tm := usage.RateLimit{Scope: keyA, Requests: 10}, usage.RateLimit{Scope: team, Requests: 1}
		t0 := clk.Now()
		mustAcquire(t, l, adm("a1", t0, 0, k, tm))
		var rl *usage.RateLimitedError
		_, err := l.Acquire(t.Context(), adm("a2", t0, 0, k, tm))
		if !errors.As(err, &rl) || rl.Scope != team {
			t.Fatalf("Acquire over the team's limit: %v, want the team's refusal", err)
		}
		st := mustAcquire(t, l, adm("a3", t0, 0, k))
		if st[0].Requests != 2 {
			t.Fatalf("key window after a refusal by the team: %d requests, want 2 (the refused one not counted)", st[0].Requests)
		}
	})
	t.Run("Cancel", func(t *testing.T) {
		clk := NewClock()
		l := limiter(t, clk.Now)
		lim := usage.RateLimit{Scope: keyA, Requests: 1}
		t0 := clk.Now()
		mustAcquire(t, l, adm("x1", t0, 0, lim))
		if err := l.Release(t.Context(), &usage.RateRelease{ID: "x1", Scopes: []usage.Scope{keyA}, Cancel: true, Now: t0}); err != nil {
			t.Fatal(err)
		}
		mustAcquire(t, l, adm("x2", t0, 0, lim))
	})
	t.Run("Invalid", func(t *testing.T) {
		clk := NewClock()
		l := limiter(t, clk.Now)
		for _, a := range []*usage.Admission{
			{Limits: []usage.RateLimit{{Scope: keyA, Requests: 1}}, Now: clk.Now()},
			{ID: "i", Now: clk.Now()},
			{ID: "i", Limits: []usage.RateLimit{{Scope: keyA}, {Scope: keyA}}, Now: clk.Now()},
			{ID: "i", Limits: []usage.RateLimit{{Scope: keyA}}, Tokens: -1, Now: clk.Now()},
		} {
			if _, err := l.Acquire(t.Context(), a); !errors.Is(err, usage.ErrInvalid) {
				t.Errorf("Acquire(%+v) = %v, want ErrInvalid", a, err)
			}
		}
	})
	t.Run("Exact", func(t *testing.T) {
		clk := NewClock()
		l := limiter(t, clk.Now)
		testRateExact(t, func(int) usage.Limiter { return l }, clk.Now())
	})
}

// testRateExact sends 300 concurrent admissions for a key allowed 60 a
// minute, spread over the limiters of limiterOf, and wants exactly 60
// admitted.
func testRateExact(t *testing.T, limiterOf func(i int) usage.Limiter, now time.Time) {
	lim := usage.RateLimit{Scope: keyB, Requests: 60}
	var admitted, refused atomic.Int64
	var wg sync.WaitGroup
	for i := range 300 {
		wg.Go(func() {
			_, err := limiterOf(i).Acquire(t.Context(), adm(fmt.Sprint("e", i), now, 10, lim))
			var rl *usage.RateLimitedError
			switch {
			case err == nil:
				admitted.Add(1)
			case errors.As(err, &rl):
				refused.Add(1)
			default:
				t.Errorf("Acquire: %v", err)
			}
		})
	}
	wg.Wait()
	if admitted.Load() != 60 || refused.Load() != 240 {
		t.Fatalf("admitted %d, refused %d of 300; want exactly 60 and 240", admitted.Load(), refused.Load())
	}
}

func adm(id string, now time.Time, tokens int64, limits ...usage.RateLimit) *usage.Admission {
	return &usage.Admission{ID: id, Limits: limits, Tokens: tokens, Now: now, Expires: now.Add(lease)}
}

func mustAcquire(t *testing.T, l usage.Limiter, a *usage.Admission) []usage.RateState {
	t.Helper()
	st, err := l.Acquire(t.Context(), a)
	if err != nil {
		t.Fatalf("Acquire(%s): %v", a.ID, err)
	}
	return st
}

func wantRefusal(t *testing.T, l usage.Limiter, a *usage.Admission, dim string, after time.Duration) {
	t.Helper()
	_, err := l.Acquire(t.Context(), a)
	var rl *usage.RateLimitedError
	if !errors.As(err, &rl) {
		t.Fatalf("Acquire(%s) = %v, want a %s refusal", a.ID, err, dim)
	}
	if rl.Dimension != dim || rl.RetryAfter != after {
		t.Fatalf("Acquire(%s) refused by %s, retry after %v; want %s, %v", a.ID, rl.Dimension, rl.RetryAfter, dim, after)
	}
}
