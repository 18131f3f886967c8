// Package storetest is the conformance suite every usage.Store backend
// passes: a backend's test calls Run with a constructor of fresh stores (and
// RunShared when several stores can share one backend, as several gateway
// processes share one DynamoDB table).
package storetest

import (
	"context"
	"errors"
	"fmt"
	"runtime"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/tollgate-gw/tollgate/internal/usage"
)

// Clock is a fake clock, safe for concurrent use.
type Clock struct {
	mu sync.Mutex
	t  time.Time
}

// NewClock returns a Clock at the next whole second of the real time: whole,
// since the DynamoDB store keeps leases at one-second resolution; real, since
// DynamoDB (Local too) deletes items whose TTL attribute, derived from the
// store's clock, is past by its own clock.
func NewClock() *Clock { return &Clock{t: time.Now().Truncate(time.Second).Add(time.Second)} }

// Now returns the clock's time.
func (c *Clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

// Advance moves the clock forward by d.
func (c *Clock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

const period = "2026-11"

var (
	keyA  = usage.Scope{Kind: usage.KindKey, ID: "key-a"}
	keyB  = usage.Scope{Kind: usage.KindKey, ID: "key-b"}
	team  = usage.Scope{Kind: usage.KindTeam, ID: "team-1"}
	glob  = usage.Global
	lease = time.Minute
)

// NewStore returns a fresh, empty store reading the time from now; the test
// closes it (or registers its own cleanup).
type NewStore func(t *testing.T, now func() time.Time) usage.Store

// Run runs the conformance suite on stores made by newStore, one fresh store
// per subtest.
func Run(t *testing.T, newStore NewStore) {
	tests := []struct {
		name string
		fn   func(*testing.T, NewStore)
	}{
		{"ReserveWithinCap", testReserveWithinCap},
		{"ReserveExceeded", testReserveExceeded},
		{"Uncapped", testUncapped},
		{"Atomicity", testAtomicity},
		{"Settle", testSettle},
		{"SettleIdempotent", testSettleIdempotent},
		{"SettleAfterSweep", testSettleAfterSweep},
		{"SettleWithoutReserve", testSettleWithoutReserve},
		{"SweepOnlyExpired", testSweepOnlyExpired},
		{"ExpiredLeaseCharged", testExpiredLeaseCharged},
		{"TotalsAndList", testTotalsAndList},
		{"PeriodsIndependent", testPeriodsIndependent},
		{"ChargePeriods", testChargePeriods},
		{"DailyCapResets", testDailyCapResets},
		{"ChargePeriodsSwept", testChargePeriodsSwept},
		{"Duplicate", testDuplicate},
		{"Invalid", testInvalid},
		{"Concurrency", func(t *testing.T, newStore NewStore) {
			s := newStore(t, NewClock().Now)
			testConcurrency(t, func(int) usage.Store { return s })
		}},
		{"Rate", runRate},
		{"AlertOnce", func(t *testing.T, newStore NewStore) {
			s := newStore(t, NewClock().Now)
			testAlertOnce(t, func(int) usage.Store { return s })
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) { tt.fn(t, newStore) })
	}
}

// RunShared runs the properties that must hold across several stores on one
// backend (several gateway processes): newStores returns at least two
// stores, fresh, on the same backend.
func RunShared(t *testing.T, newStores func(t *testing.T, now func() time.Time) []usage.Store) {
	t.Run("Concurrency", func(t *testing.T) {
		ss := newStores(t, NewClock().Now)
		testConcurrency(t, func(i int) usage.Store { return ss[i%len(ss)] })
	})
	t.Run("RateExact", func(t *testing.T) {
		clk := NewClock()
		ss := newStores(t, clk.Now)
		testRateExact(t, func(i int) usage.Limiter { return ss[i%len(ss)].(usage.Limiter) }, clk.Now())
	})
	t.Run("AlertOnce", func(t *testing.T) {
		ss := newStores(t, NewClock().Now)
		testAlertOnce(t, func(i int) usage.Store { return ss[i%len(ss)] })
	})
	t.Run("SettleElsewhere", func(t *testing.T) {
		clk := NewClock()
		ss := newStores(t, clk.Now)
		a, b := ss[0], ss[1]
		r := res("x1", 1000, clk.Now(), usage.Charge{Scope: keyA, Limit: 5000})
		mustReserve(t, a, r)
		if err := b.Reserve(t.Context(), r); !errors.Is(err, usage.ErrDuplicate) {
			t.Fatalf("Reserve on the other store: %v, want ErrDuplicate", err)
		}
		mustSettle(t, b, r, 400, true)
		mustSettle(t, a, r, 400, false)
		wantTotals(t, a, period, map[usage.Scope]usage.Totals{keyA: {Spent: 400}})
		wantTotals(t, b, period, map[usage.Scope]usage.Totals{keyA: {Spent: 400}})
	})
}

// res returns a reservation of amount on charges (those without a period
// in period), expiring a lease after now.
func res(id string, amount int64, now time.Time, charges ...usage.Charge) *usage.Reservation {
	return &usage.Reservation{ID: id, Charges: in(period, charges...), Amount: amount, Expires: now.Add(lease)}
}

// in returns charges with per as the period of those that have none.
func in(per string, charges ...usage.Charge) []usage.Charge {
	out := make([]usage.Charge, len(charges))
	for i, c := range charges {
		if c.Period == "" {
			c.Period = per
		}
		out[i] = c
	}
	return out
}

func mustReserve(t *testing.T, s usage.Store, r *usage.Reservation) {
	t.Helper()
	if err := s.Reserve(t.Context(), r); err != nil {
		t.Fatalf("Reserve(%s, %d): %v", r.ID, r.Amount, err)
	}
}

func mustSettle(t *testing.T, s usage.Store, r *usage.Reservation, actual int64, want bool) {
	t.Helper()
	got, err := s.Settle(t.Context(), r, actual)
	if err != nil {
		t.Fatalf("Settle(%s, %d): %v", r.ID, actual, err)
	}
	if got != want {
		t.Fatalf("Settle(%s, %d) = %v, want %v", r.ID, actual, got, want)
	}
}

func mustSweep(t *testing.T, s usage.Store, now time.Time, want int) {
	t.Helper()
	n, err := s.Sweep(t.Context(), now)
	if err != nil {
		t.Fatalf("Sweep: %v", err)
	}
	if n != want {
		t.Fatalf("Sweep released %d, want %d", n, want)
	}
}

// wantTotals compares the totals of want's scopes.
func wantTotals(t *testing.T, s usage.Store, period string, want map[usage.Scope]usage.Totals) {
	t.Helper()
	scopes := make([]usage.Scope, 0, len(want))
	for sc := range want {
		scopes = append(scopes, sc)
	}
	got, err := s.Totals(t.Context(), period, scopes)
	if err != nil {
		t.Fatalf("Totals: %v", err)
	}
	if d := cmp.Diff(want, got); d != "" {
		t.Fatalf("Totals(%s) mismatch (-want +got):\n%s", period, d)
	}
}

func testReserveWithinCap(t *testing.T, newStore NewStore) {
	clk := NewClock()
	s := newStore(t, clk.Now)
	charges := []usage.Charge{{Scope: keyA, Limit: 1000}, {Scope: team, Limit: 5000}, {Scope: glob, Limit: usage.Uncapped}}
	mustReserve(t, s, res("r1", 400, clk.Now(), charges...))
	mustReserve(t, s, res("r2", 600, clk.Now(), charges...)) // exactly at the key's cap
	wantTotals(t, s, period, map[usage.Scope]usage.Totals{
		keyA: {Reserved: 1000}, team: {Reserved: 1000}, glob: {Reserved: 1000},
	})
	// A zero amount fits even a full cap.
	mustReserve(t, s, res("r3", 0, clk.Now(), charges...))
}

func testReserveExceeded(t *testing.T, newStore NewStore) {
	// setup: reservations made (and settled at the given actual, when >= 0)
	// before the one under test.
	type prior struct {
		amount, actual int64
		charges        []usage.Charge
	}
	open := int64(-1)
	tests := []struct {
		name    string
		prior   []prior
		amount  int64
		charges []usage.Charge
		want    *usage.ExceededError
	}{
		{
			name:    "key cap, reserved",
			prior:   []prior{{700, open, []usage.Charge{{Scope: keyA, Limit: 1000}, {Scope: team, Limit: 5000}}}},
			amount:  400,
			charges: []usage.Charge{{Scope: keyA, Limit: 1000}, {Scope: team, Limit: 5000}, {Scope: glob, Limit: 100000}},
			want:    &usage.ExceededError{Scope: keyA, Limit: 1000, Reserved: 700},
		},
		{
			name:    "team cap, spent",
			prior:   []prior{{800, 600, []usage.Charge{{Scope: keyB, Limit: usage.Uncapped}, {Scope: team, Limit: 1000}}}},
			amount:  500,
			charges: []usage.Charge{{Scope: keyA, Limit: 1000}, {Scope: team, Limit: 1000}, {Scope: glob, Limit: usage.Uncapped}},
			want:    &usage.ExceededError{Scope: team, Limit: 1000, Spent: 600},
		},
		{
			name: "global cap, spent and reserved",
			prior: []prior{
				{300, 250, []usage.Charge{{Scope: keyB, Limit: usage.Uncapped}, {Scope: glob, Limit: 2000}}},
				{1500, open, []usage.Charge{{Scope: keyB, Limit: usage.Uncapped}, {Scope: glob, Limit: 2000}}},
			},
			amount:  300,
			charges: []usage.Charge{{Scope: keyA, Limit: 1000}, {Scope: team, Limit: usage.Uncapped}, {Scope: glob, Limit: 2000}},
			want:    &usage.ExceededError{Scope: glob, Limit: 2000, Spent: 250, Reserved: 1500},
		},
		{
			name: "tightest of two failing",
			prior: []prior{
				{900, open, []usage.Charge{{Scope: keyA, Limit: 1000}, {Scope: team, Limit: 1000}}},
				{50, 50, []usage.Charge{{Scope: keyB, Limit: 1000}, {Scope: team, Limit: 1000}}},
			},
			amount:  200,
			charges: []usage.Charge{{Scope: keyA, Limit: 1000}, {Scope: team, Limit: 1000}},
			// key-a has 100 left, team-1 has 50 left.
			want: &usage.ExceededError{Scope: team, Limit: 1000, Spent: 50, Reserved: 900},
		},
		{
			name:    "amount alone over the limit",
			amount:  2000,
			charges: []usage.Charge{{Scope: keyA, Limit: 1000}, {Scope: team, Limit: usage.Uncapped}},
			want:    &usage.ExceededError{Scope: keyA, Limit: 1000},
		},
		{
			name:    "zero limit",
			amount:  1,
			charges: []usage.Charge{{Scope: keyA, Limit: 0}},
			want:    &usage.ExceededError{Scope: keyA, Limit: 0},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			clk := NewClock()
			s := newStore(t, clk.Now)
			for i, p := range tt.prior {
				r := res(fmt.Sprintf("prior-%d", i), p.amount, clk.Now(), p.charges...)
				mustReserve(t, s, r)
				if p.actual >= 0 {
					mustSettle(t, s, r, p.actual, true)
				}
			}
			all := []usage.Scope{keyA, keyB, team, glob}
			before, err := s.Totals(t.Context(), period, all)
			if err != nil {
				t.Fatal(err)
			}
			err = s.Reserve(t.Context(), res("r", tt.amount, clk.Now(), tt.charges...))
			var got *usage.ExceededError
			if !errors.As(err, &got) {
				t.Fatalf("Reserve: %v, want *ExceededError", err)
			}
			want := *tt.want
			want.Period = period
			if d := cmp.Diff(&want, got); d != "" {
				t.Errorf("ExceededError mismatch (-want +got):\n%s", d)
			}
			after, err := s.Totals(t.Context(), period, all)
			if err != nil {
				t.Fatal(err)
			}
			if d := cmp.Diff(before, after); d != "" {
				t.Errorf("a refused Reserve changed totals (-before +after):\n%s", d)
			}
		})
	}
}

func testUncapped(t *testing.T, newStore NewStore) {
	clk := NewClock()
	s := newStore(t, clk.Now)
	charges := []usage.Charge{{Scope: keyA, Limit: usage.Uncapped}, {Scope: glob, Limit: usage.Uncapped}}
	big := int64(1) << 50
	mustReserve(t, s, res("r1", big, clk.Now(), charges...))
	mustReserve(t, s, res("r2", big, clk.Now(), charges...))
	wantTotals(t, s, period, map[usage.Scope]usage.Totals{keyA: {Reserved: 2 * big}, glob: {Reserved: 2 * big}})
}

func testAtomicity(t *testing.T, newStore NewStore) {
	clk := NewClock()
	s := newStore(t, clk.Now)
	mustReserve(t, s, res("r1", 900, clk.Now(), usage.Charge{Scope: keyB, Limit: usage.Uncapped}, usage.Charge{Scope: team, Limit: 1000}))
	// key-a comes first and has room: it must stay untouched when the team refuses.
	err := s.Reserve(t.Context(), res("r2", 200, clk.Now(),
		usage.Charge{Scope: keyA, Limit: 10000}, usage.Charge{Scope: glob, Limit: usage.Uncapped}, usage.Charge{Scope: team, Limit: 1000}))
	var ee *usage.ExceededError
	if !errors.As(err, &ee) || ee.Scope != team {
		t.Fatalf("Reserve: %v, want team-1 exceeded", err)
	}
	wantTotals(t, s, period, map[usage.Scope]usage.Totals{keyA: {}, glob: {}, keyB: {Reserved: 900}, team: {Reserved: 900}})
	// The refused ID was not taken.
	mustReserve(t, s, res("r2", 100, clk.Now(), usage.Charge{Scope: keyA, Limit: 10000}, usage.Charge{Scope: team, Limit: 1000}))
}

func testSettle(t *testing.T, newStore NewStore) {
	tests := []struct {
		name   string
		actual int64
		want   usage.Totals
	}{
		{"lower", 300, usage.Totals{Spent: 300}},
		{"equal", 1000, usage.Totals{Spent: 1000}},
		{"zero", 0, usage.Totals{}},
		{"higher", 1500, usage.Totals{Spent: 1500}}, // overshoot is allowed
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			clk := NewClock()
			s := newStore(t, clk.Now)
			r := res("r1", 1000, clk.Now(), usage.Charge{Scope: keyA, Limit: 1000}, usage.Charge{Scope: glob, Limit: usage.Uncapped})
			other := res("r2", 50, clk.Now(), usage.Charge{Scope: glob, Limit: usage.Uncapped})
			mustReserve(t, s, r)
			mustReserve(t, s, other)
			mustSettle(t, s, r, tt.actual, true)
			g := tt.want
			g.Reserved += 50
			wantTotals(t, s, period, map[usage.Scope]usage.Totals{keyA: tt.want, glob: g})
		})
	}
}

func testSettleIdempotent(t *testing.T, newStore NewStore) {
	clk := NewClock()
	s := newStore(t, clk.Now)
	r := res("r1", 1000, clk.Now(), usage.Charge{Scope: keyA, Limit: 1000}, usage.Charge{Scope: team, Limit: usage.Uncapped})
	mustReserve(t, s, r)
	mustSettle(t, s, r, 700, true)
	mustSettle(t, s, r, 700, false)
	mustSettle(t, s, r, 900, false) // a different actual changes nothing either
	want := map[usage.Scope]usage.Totals{keyA: {Spent: 700}, team: {Spent: 700}}
	wantTotals(t, s, period, want)
	// Still idempotent once the lease has expired and sweeps ran.
	clk.Advance(2 * lease)
	mustSweep(t, s, clk.Now(), 0)
	mustSettle(t, s, r, 700, false)
	wantTotals(t, s, period, want)
}

// testSettleAfterSweep: a lease that expired unsettled is charged at its
// amount, marked estimated; the settlement that arrives late replaces that
// charge with the actual cost, exactly once, whether lower or higher.
func testSettleAfterSweep(t *testing.T, newStore NewStore) {
	for _, actual := range []int64{300, 1000, 1200, 0} {
		t.Run(fmt.Sprint(actual), func(t *testing.T) {
			clk := NewClock()
			s := newStore(t, clk.Now)
			charges := []usage.Charge{{Scope: keyA, Limit: 1000}, {Scope: team, Limit: 5000}}
			r := res("r1", 1000, clk.Now(), charges...)
			other := res("r2", 100, clk.Now(), charges[1])
			mustReserve(t, s, r)
			mustReserve(t, s, other)
			mustSettle(t, s, other, 50, true)
			clk.Advance(lease + time.Second)
			mustSweep(t, s, clk.Now(), 1)
			wantTotals(t, s, period, map[usage.Scope]usage.Totals{
				keyA: {Spent: 1000, Estimated: 1000}, team: {Spent: 1050, Estimated: 1000},
			})
			if err := s.Reserve(t.Context(), res("r1", 10, clk.Now(), charges...)); !errors.Is(err, usage.ErrDuplicate) {
				t.Fatalf("Reserve of a swept id: %v, want ErrDuplicate", err)
			}
			mustSettle(t, s, r, actual, true)
			mustSettle(t, s, r, actual, false)
			mustSettle(t, s, r, 5, false)
			mustSweep(t, s, clk.Now(), 0)
			wantTotals(t, s, period, map[usage.Scope]usage.Totals{keyA: {Spent: actual}, team: {Spent: actual + 50}})
		})
	}
}

// testSettleWithoutReserve: a spend that needed no hold (no capped scope)
// is recorded by Settle alone, once, even without an Expires.
func testSettleWithoutReserve(t *testing.T, newStore NewStore) {
	clk := NewClock()
	s := newStore(t, clk.Now)
	r := &usage.Reservation{ID: "free", Charges: in(period, usage.Charge{Scope: keyA, Limit: usage.Uncapped}, usage.Charge{Scope: glob, Limit: usage.Uncapped})}
	mustSettle(t, s, r, 250, true)
	mustSettle(t, s, r, 250, false)
	wantTotals(t, s, period, map[usage.Scope]usage.Totals{keyA: {Spent: 250}, glob: {Spent: 250}})
}

func testSweepOnlyExpired(t *testing.T, newStore NewStore) {
	clk := NewClock()
	s := newStore(t, clk.Now)
	ch := usage.Charge{Scope: keyA, Limit: usage.Uncapped}
	t0 := clk.Now()
	for i, d := range []time.Duration{time.Minute, 2 * time.Minute, 3 * time.Minute} {
		r := &usage.Reservation{ID: fmt.Sprintf("r%d", i), Charges: in(period, ch), Amount: int64(100 << i), Expires: t0.Add(d)}
		mustReserve(t, s, r)
	}
	mustSweep(t, s, t0.Add(time.Minute), 0) // a lease expiring exactly now is still live
	mustSweep(t, s, t0.Add(150*time.Second), 2)
	wantTotals(t, s, period, map[usage.Scope]usage.Totals{keyA: {Reserved: 400, Spent: 300, Estimated: 300}})
	mustSweep(t, s, t0.Add(150*time.Second), 0)
	last := &usage.Reservation{ID: "r2", Charges: in(period, ch), Amount: 400, Expires: t0.Add(3 * time.Minute)}
	mustSettle(t, s, last, 100, true)
	wantTotals(t, s, period, map[usage.Scope]usage.Totals{keyA: {Spent: 400, Estimated: 300}})
	mustSweep(t, s, t0.Add(time.Hour), 0)
}

// testExpiredLeaseCharged: a crashed caller's hold is not given back when
// its lease expires, since the request may have been served: it becomes
// spend, and the cap stays full until a late settlement corrects it.
func testExpiredLeaseCharged(t *testing.T, newStore NewStore) {
	clk := NewClock()
	s := newStore(t, clk.Now)
	ch := usage.Charge{Scope: keyA, Limit: 1000}
	crashed := res("crashed", 1000, clk.Now(), ch)
	mustReserve(t, s, crashed)
	var ee *usage.ExceededError
	if err := s.Reserve(t.Context(), res("r1", 1, clk.Now(), ch)); !errors.As(err, &ee) {
		t.Fatalf("Reserve over a full cap: %v, want *ExceededError", err)
	}
	clk.Advance(lease + time.Second)
	// Reserve charges expired leases itself (memory, bolt) or finds them
	// still held (dynamo): either way the cap is still full.
	if err := s.Reserve(t.Context(), res("r1", 1, clk.Now(), ch)); !errors.As(err, &ee) {
		t.Fatalf("Reserve over a cap full of an expired lease: %v, want *ExceededError", err)
	}
	if _, err := s.Sweep(t.Context(), clk.Now()); err != nil {
		t.Fatal(err)
	}
	wantTotals(t, s, period, map[usage.Scope]usage.Totals{keyA: {Spent: 1000, Estimated: 1000}})
	mustSettle(t, s, crashed, 300, true)
	mustReserve(t, s, res("r2", 700, clk.Now(), ch))
	wantTotals(t, s, period, map[usage.Scope]usage.Totals{keyA: {Spent: 300, Reserved: 700}})
}

func testTotalsAndList(t *testing.T, newStore NewStore) {
	clk := NewClock()
	s := newStore(t, clk.Now)
	r1 := res("r1", 1000, clk.Now(), usage.Charge{Scope: keyA, Limit: 5000}, usage.Charge{Scope: team, Limit: 5000}, usage.Charge{Scope: glob, Limit: usage.Uncapped})
	r2 := res("r2", 200, clk.Now(), usage.Charge{Scope: keyB, Limit: 5000}, usage.Charge{Scope: glob, Limit: usage.Uncapped})
	mustReserve(t, s, r1)
	mustReserve(t, s, r2)
	mustSettle(t, s, r1, 600, true)
	want := map[usage.Scope]usage.Totals{
		keyA: {Spent: 600},
		keyB: {Reserved: 200},
		team: {Spent: 600},
		glob: {Spent: 600, Reserved: 200},
	}
	got, err := s.List(t.Context(), period)
	if err != nil {
		t.Fatal(err)
	}
	if d := cmp.Diff(want, got); d != "" {
		t.Errorf("List mismatch (-want +got):\n%s", d)
	}
	never := usage.Scope{Kind: usage.KindTeam, ID: "never"}
	want[never] = usage.Totals{}
	wantTotals(t, s, period, want)
	if got, err := s.List(t.Context(), "2026-10"); err != nil || len(got) != 0 {
		t.Errorf("List(empty period) = %v, %v; want empty", got, err)
	}
	if got, err := s.Totals(t.Context(), period, nil); err != nil || len(got) != 0 {
		t.Errorf("Totals(no scopes) = %v, %v; want empty", got, err)
	}
}

func testPeriodsIndependent(t *testing.T, newStore NewStore) {
	clk := NewClock()
	s := newStore(t, clk.Now)
	ch := usage.Charge{Scope: keyA, Limit: 1000}
	nov := res("nov", 1000, clk.Now(), ch)
	mustReserve(t, s, nov)
	mustSettle(t, s, nov, 1000, true)
	dec := res("dec", 1000, clk.Now(), usage.Charge{Scope: keyA, Period: "2026-12", Limit: 1000})
	mustReserve(t, s, dec)
	wantTotals(t, s, period, map[usage.Scope]usage.Totals{keyA: {Spent: 1000}})
	wantTotals(t, s, "2026-12", map[usage.Scope]usage.Totals{keyA: {Reserved: 1000}})
	got, err := s.List(t.Context(), "2026-12")
	if err != nil {
		t.Fatal(err)
	}
	if d := cmp.Diff(map[usage.Scope]usage.Totals{keyA: {Reserved: 1000}}, got); d != "" {
		t.Errorf("List(2026-12) mismatch (-want +got):\n%s", d)
	}
	// Sweeping charges a lease of any period, in its period.
	clk.Advance(lease + time.Second)
	mustSweep(t, s, clk.Now(), 1)
	wantTotals(t, s, "2026-12", map[usage.Scope]usage.Totals{keyA: {Spent: 1000, Estimated: 1000}})
	wantTotals(t, s, period, map[usage.Scope]usage.Totals{keyA: {Spent: 1000}})
}

// The periods of the multi-period cases: a month, a week in it, a day in
// both, and the next day.
const (
	month   = "2026-11"
	week    = "2026-W48"
	day     = "2026-11-26"
	nextDay = "2026-11-27"
)

// testChargePeriods: one reservation charges a scope in several periods
// (and another scope in one of them): each (scope, period) counter is held,
// checked and settled on its own, once, and a refusal names the charge that
// bites with its period.
func testChargePeriods(t *testing.T, newStore NewStore) {
	clk := NewClock()
	s := newStore(t, clk.Now)
	charges := []usage.Charge{
		{Scope: keyA, Period: month, Limit: 10000},
		{Scope: keyA, Period: week, Limit: usage.Uncapped},
		{Scope: keyA, Period: day, Limit: 1000},
		{Scope: team, Period: week, Limit: 5000},
	}
	r1 := res("r1", 600, clk.Now(), charges...)
	mustReserve(t, s, r1)
	wantTotals(t, s, month, map[usage.Scope]usage.Totals{keyA: {Reserved: 600}, team: {}})
	wantTotals(t, s, week, map[usage.Scope]usage.Totals{keyA: {Reserved: 600}, team: {Reserved: 600}})
	wantTotals(t, s, day, map[usage.Scope]usage.Totals{keyA: {Reserved: 600}, team: {}})

	// 500 fits the month (9,400 left) and the team's week (4,400), not the
	// day (400): the refusal names the day and changes nothing.
	err := s.Reserve(t.Context(), res("r2", 500, clk.Now(), charges...))
	var ee *usage.ExceededError
	if !errors.As(err, &ee) {
		t.Fatalf("Reserve over the daily cap: %v, want *ExceededError", err)
	}
	if d := cmp.Diff(&usage.ExceededError{Scope: keyA, Period: day, Limit: 1000, Reserved: 600}, ee); d != "" {
		t.Errorf("ExceededError mismatch (-want +got):\n%s", d)
	}
	wantTotals(t, s, month, map[usage.Scope]usage.Totals{keyA: {Reserved: 600}})
	mustReserve(t, s, res("r2", 400, clk.Now(), charges...)) // exactly the day's cap

	mustSettle(t, s, r1, 300, true)
	mustSettle(t, s, r1, 300, false)
	wantTotals(t, s, month, map[usage.Scope]usage.Totals{keyA: {Spent: 300, Reserved: 400}})
	wantTotals(t, s, week, map[usage.Scope]usage.Totals{keyA: {Spent: 300, Reserved: 400}, team: {Spent: 300, Reserved: 400}})
	wantTotals(t, s, day, map[usage.Scope]usage.Totals{keyA: {Spent: 300, Reserved: 400}})
	for per, want := range map[string]map[usage.Scope]usage.Totals{
		month: {keyA: {Spent: 300, Reserved: 400}},
		week:  {keyA: {Spent: 300, Reserved: 400}, team: {Spent: 300, Reserved: 400}},
		day:   {keyA: {Spent: 300, Reserved: 400}},
	} {
		got, err := s.List(t.Context(), per)
		if err != nil {
			t.Fatal(err)
		}
		if d := cmp.Diff(want, got); d != "" {
			t.Errorf("List(%s) mismatch (-want +got):\n%s", per, d)
		}
	}
	// A spend never reserved is recorded in every period it names, once.
	free := &usage.Reservation{ID: "free", Charges: []usage.Charge{{Scope: keyB, Period: month, Limit: usage.Uncapped}, {Scope: keyB, Period: day, Limit: usage.Uncapped}}}
	mustSettle(t, s, free, 70, true)
	mustSettle(t, s, free, 70, false)
	wantTotals(t, s, month, map[usage.Scope]usage.Totals{keyB: {Spent: 70}})
	wantTotals(t, s, day, map[usage.Scope]usage.Totals{keyB: {Spent: 70}})
}

// testDailyCapResets: a key capped by the day and the month is refused once
// its day is spent, and admitted again the next day (the caller charges the
// next day's period) while the month keeps counting both days.
func testDailyCapResets(t *testing.T, newStore NewStore) {
	clk := NewClock()
	s := newStore(t, clk.Now)
	on := func(d string) []usage.Charge {
		return []usage.Charge{{Scope: keyA, Period: month, Limit: 2500}, {Scope: keyA, Period: d, Limit: 1000}}
	}
	r1 := res("d1-1", 1000, clk.Now(), on(day)...)
	mustReserve(t, s, r1)
	mustSettle(t, s, r1, 1000, true)
	var ee *usage.ExceededError
	if err := s.Reserve(t.Context(), res("d1-2", 1, clk.Now(), on(day)...)); !errors.As(err, &ee) || ee.Period != day {
		t.Fatalf("Reserve on a spent day: %v, want *ExceededError of %s", err, day)
	}
	r2 := res("d2-1", 1000, clk.Now(), on(nextDay)...)
	mustReserve(t, s, r2)
	mustSettle(t, s, r2, 800, true)
	wantTotals(t, s, month, map[usage.Scope]usage.Totals{keyA: {Spent: 1800}})
	wantTotals(t, s, day, map[usage.Scope]usage.Totals{keyA: {Spent: 1000}})
	wantTotals(t, s, nextDay, map[usage.Scope]usage.Totals{keyA: {Spent: 800}})
	// On the third day the month bites first: 700 is left of it.
	if err := s.Reserve(t.Context(), res("d3-1", 800, clk.Now(), on("2026-11-28")...)); !errors.As(err, &ee) || ee.Period != month {
		t.Fatalf("Reserve past the month: %v, want *ExceededError of %s", err, month)
	}
	mustReserve(t, s, res("d3-1", 700, clk.Now(), on("2026-11-28")...))
}

// testChargePeriodsSwept: a multi-period lease that expires is charged in
// every period once, and its late settlement corrects every one once.
func testChargePeriodsSwept(t *testing.T, newStore NewStore) {
	clk := NewClock()
	s := newStore(t, clk.Now)
	r := res("r1", 1000, clk.Now(),
		usage.Charge{Scope: keyA, Period: month, Limit: 5000},
		usage.Charge{Scope: keyA, Period: week, Limit: 2000},
		usage.Charge{Scope: glob, Period: day, Limit: 1000})
	mustReserve(t, s, r)
	clk.Advance(lease + time.Second)
	mustSweep(t, s, clk.Now(), 1)
	mustSweep(t, s, clk.Now(), 0)
	swept := usage.Totals{Spent: 1000, Estimated: 1000}
	wantTotals(t, s, month, map[usage.Scope]usage.Totals{keyA: swept, glob: {}})
	wantTotals(t, s, week, map[usage.Scope]usage.Totals{keyA: swept})
	wantTotals(t, s, day, map[usage.Scope]usage.Totals{glob: swept, keyA: {}})
	mustSettle(t, s, r, 250, true)
	mustSettle(t, s, r, 250, false)
	wantTotals(t, s, month, map[usage.Scope]usage.Totals{keyA: {Spent: 250}})
	wantTotals(t, s, week, map[usage.Scope]usage.Totals{keyA: {Spent: 250}})
	wantTotals(t, s, day, map[usage.Scope]usage.Totals{glob: {Spent: 250}})
}

func testDuplicate(t *testing.T, newStore NewStore) {
	clk := NewClock()
	s := newStore(t, clk.Now)
	ch := usage.Charge{Scope: keyA, Limit: 10000}
	r := res("r1", 1000, clk.Now(), ch)
	mustReserve(t, s, r)
	if err := s.Reserve(t.Context(), res("r1", 500, clk.Now(), ch)); !errors.Is(err, usage.ErrDuplicate) {
		t.Fatalf("Reserve of a live id: %v, want ErrDuplicate", err)
	}
	wantTotals(t, s, period, map[usage.Scope]usage.Totals{keyA: {Reserved: 1000}})
	mustSettle(t, s, r, 100, true)
	if err := s.Reserve(t.Context(), res("r1", 500, clk.Now(), ch)); !errors.Is(err, usage.ErrDuplicate) {
		t.Fatalf("Reserve of a settled id: %v, want ErrDuplicate", err)
	}
	wantTotals(t, s, period, map[usage.Scope]usage.Totals{keyA: {Spent: 100}})
}

func testInvalid(t *testing.T, newStore NewStore) {
	clk := NewClock()
	s := newStore(t, clk.Now)
	ch := usage.Charge{Scope: keyA, Limit: 10000}
	tests := []struct {
		name string
		r    *usage.Reservation
	}{
		{"no id", res("", 1, clk.Now(), ch)},
		{"negative", res("r", -1, clk.Now(), ch)},
		{"no charges", res("r", 1, clk.Now())},
		{"twice", res("r", 1, clk.Now(), ch, ch)},
		{"global with id", res("r", 1, clk.Now(), usage.Charge{Scope: usage.Scope{Kind: usage.KindGlobal, ID: "x"}})},
		{"no period", &usage.Reservation{ID: "r", Charges: []usage.Charge{ch}, Amount: 1, Expires: clk.Now()}},
		{"bad period", &usage.Reservation{ID: "r", Charges: []usage.Charge{{Scope: keyA, Period: "2026#11", Limit: 1}}, Amount: 1, Expires: clk.Now()}},
		{"twice in a period", res("r", 1, clk.Now(), ch, usage.Charge{Scope: keyA, Period: period, Limit: 5})},
		{"no expiry", &usage.Reservation{ID: "r", Charges: in(period, ch), Amount: 1}},
	}
	for _, tt := range tests {
		if err := s.Reserve(t.Context(), tt.r); !errors.Is(err, usage.ErrInvalid) {
			t.Errorf("Reserve(%s): %v, want ErrInvalid", tt.name, err)
		}
	}
	if _, err := s.Settle(t.Context(), res("r", 1, clk.Now(), ch), -1); !errors.Is(err, usage.ErrInvalid) {
		t.Errorf("Settle(negative actual): %v, want ErrInvalid", err)
	}
	wantTotals(t, s, period, map[usage.Scope]usage.Totals{keyA: {}})
}

// testConcurrency checks THE property: concurrency alone never lets
// committed spend pass a cap. store(i) is the store goroutine i uses.
func testConcurrency(t *testing.T, store func(i int) usage.Store) {
	const (
		workers = 200
		limit   = 50_000 // affords about 50 reservations of about 1,000
	)
	amounts := []struct {
		name   string
		amount func(i int) int64
	}{
		{"equal", func(int) int64 { return 1000 }},
		{"varied", func(i int) int64 { return 500 + int64(i*7919%1001) }},
	}
	ctx := t.Context()
	teamCap := usage.Charge{Scope: team, Limit: limit}
	charges := func(i int) []usage.Charge {
		return []usage.Charge{
			{Scope: usage.Scope{Kind: usage.KindKey, ID: fmt.Sprintf("key-%d", i%10)}, Limit: usage.Uncapped},
			teamCap,
			{Scope: glob, Limit: 10 * limit},
		}
	}
	now := time.Now()
	for n, a := range amounts {
		// Burst: every worker reserves at once and holds, so nothing is
		// released while caps are checked: the accepted set must fit under
		// the cap, and every refused amount must not fit in what is left.
		t.Run("burst/"+a.name, func(t *testing.T) {
			per := fmt.Sprintf("2030-%02d", n+1)
			rs := make([]*usage.Reservation, workers)
			errs := make([]error, workers)
			var wg sync.WaitGroup
			start := make(chan struct{})
			for i := range workers {
				rs[i] = &usage.Reservation{ID: fmt.Sprintf("%s-%d", per, i), Charges: in(per, charges(i)...), Amount: a.amount(i), Expires: now.Add(time.Hour)}
				wg.Go(func() {
					<-start
					errs[i] = store(i).Reserve(ctx, rs[i])
				})
			}
			close(start)
			wg.Wait()
			var sum int64
			var accepted []int
			for i, err := range errs {
				var ee *usage.ExceededError
				switch {
				case err == nil:
					sum += rs[i].Amount
					accepted = append(accepted, i)
				case errors.As(err, &ee):
					if ee.Scope != team {
						t.Errorf("worker %d refused on %s, want %s", i, ee.Scope, team)
					}
				default:
					t.Fatalf("worker %d: Reserve: %v", i, err)
				}
			}
			if sum > limit {
				t.Fatalf("accepted %d reservations totalling %d > cap %d", len(accepted), sum, limit)
			}
			for i, err := range errs {
				if err != nil && rs[i].Amount <= limit-sum {
					t.Errorf("worker %d refused %d although %d was left", i, rs[i].Amount, limit-sum)
				}
			}
			if a.name == "equal" && len(accepted) != limit/1000 {
				t.Errorf("accepted %d, want %d", len(accepted), limit/1000)
			}
			wantTotals(t, store(0), per, map[usage.Scope]usage.Totals{team: {Reserved: sum}, glob: {Reserved: sum}})
			var spent atomic.Int64
			for _, i := range accepted {
				wg.Go(func() {
					actual := rs[i].Amount * int64(i%4) / 3 // 0 to the full amount
					ok, err := store(i+1).Settle(ctx, rs[i], actual)
					if err != nil || !ok {
						t.Errorf("Settle(%s) = %v, %v", rs[i].ID, ok, err)
					}
					spent.Add(actual)
				})
			}
			wg.Wait()
			wantTotals(t, store(0), per, map[usage.Scope]usage.Totals{team: {Spent: spent.Load()}, glob: {Spent: spent.Load()}})
		})
	}
	// Churn: every worker reserves and settles while others do, and a
	// monitor checks that the team's committed total never passes the cap.
	t.Run("churn", func(t *testing.T) {
		const per = "2030-09"
		var (
			wg       sync.WaitGroup
			spent    atomic.Int64
			accepted atomic.Int64
			stop     = make(chan struct{})
			monitor  = make(chan error, 1)
		)
		go func() {
			defer close(monitor)
			for {
				select {
				case <-stop:
					return
				default:
				}
				got, err := store(0).Totals(ctx, per, []usage.Scope{team})
				if err != nil {
					monitor <- err
					return
				}
				if c := got[team].Committed(); c > limit {
					monitor <- fmt.Errorf("team committed %d > cap %d", c, limit)
					return
				}
				time.Sleep(time.Millisecond)
			}
		}()
		start := make(chan struct{})
		for i := range workers {
			wg.Go(func() {
				<-start
				r := &usage.Reservation{ID: fmt.Sprintf("churn-%d", i), Charges: in(per, charges(i)...), Amount: 500 + int64(i*7919%1001), Expires: now.Add(time.Hour)}
				err := store(i).Reserve(ctx, r)
				var ee *usage.ExceededError
				if errors.As(err, &ee) {
					return
				}
				if err != nil {
					t.Errorf("Reserve(%s): %v", r.ID, err)
					return
				}
				accepted.Add(1)
				actual := r.Amount * int64(i%3) / 2 // 0 to the full amount
				if ok, err := store(i+1).Settle(ctx, r, actual); err != nil || !ok {
					t.Errorf("Settle(%s) = %v, %v", r.ID, ok, err)
				}
				spent.Add(actual)
			})
		}
		close(start)
		wg.Wait()
		close(stop)
		if err := <-monitor; err != nil {
			t.Fatal(err)
		}
		if accepted.Load() < limit/1500 {
			t.Errorf("only %d of %d reservations accepted", accepted.Load(), workers)
		}
		if spent.Load() > limit {
			t.Errorf("spent %d > cap %d", spent.Load(), limit)
		}
		wantTotals(t, store(0), per, map[usage.Scope]usage.Totals{team: {Spent: spent.Load()}, glob: {Spent: spent.Load()}})
	})
}

// BenchWorkers is how many goroutines Bench runs: a busy gateway's
// concurrent requests.
const BenchWorkers = 64

// Bench measures reserve+settle pairs of s from BenchWorkers goroutines,
// each on its own key under one capped team and the global scope, and
// reports pairs/s and the process's CPU time per pair (ns/op is wall time
// per pair).
func Bench(b *testing.B, s usage.Store) {
	b.SetParallelism(max(1, BenchWorkers/runtime.GOMAXPROCS(0)))
	ctx := context.Background()
	var seq atomic.Int64
	expires := time.Now().Add(time.Hour)
	run := time.Now().UnixNano() // IDs stay unique when b reruns on one store
	b.ResetTimer()
	start := time.Now()
	cpu0, cpuOK := processCPU()
	b.RunParallel(func(pb *testing.PB) {
		g := seq.Add(1)
		charges := in(period,
			usage.Charge{Scope: usage.Scope{Kind: usage.KindKey, ID: fmt.Sprintf("key-%d", g)}, Limit: 1 << 50},
			usage.Charge{Scope: team, Limit: 1 << 50},
			usage.Charge{Scope: glob, Limit: 1 << 52},
		)
		n := 0
		for pb.Next() {
			n++
			r := &usage.Reservation{ID: fmt.Sprintf("b%d-%d-%d", run, g, n), Charges: charges, Amount: 1000, Expires: expires}
			if err := s.Reserve(ctx, r); err != nil {
				b.Error(err)
				return
			}
			if _, err := s.Settle(ctx, r, 700); err != nil {
				b.Error(err)
				return
			}
		}
	})
	b.ReportMetric(float64(b.N)/time.Since(start).Seconds(), "pairs/s")
	if cpu1, ok := processCPU(); ok && cpuOK {
		// CPU of the whole process (the test binary, GC included) per pair:
		// unlike ns/op it does not depend on what else the machine runs.
		b.ReportMetric(float64(cpu1-cpu0)/float64(b.N), "cpu-ns/pair")
	}
}
