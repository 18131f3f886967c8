package memory_test

import (
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/tollgate-gw/tollgate/internal/usage"
	"github.com/tollgate-gw/tollgate/internal/usage/memory"
	"github.com/tollgate-gw/tollgate/internal/usage/storetest"
)

func TestStore(t *testing.T) {
	storetest.Run(t, func(t *testing.T, now func() time.Time) usage.Store {
		s := memory.New(memory.WithClock(now))
		t.Cleanup(func() { s.Close() })
		return s
	})
}

func BenchmarkReserveSettle(b *testing.B) {
	s := memory.New()
	defer s.Close()
	storetest.Bench(b, s)
}

// BenchmarkReserveSettleSerial is the CPU cost of a pair without contention.
func BenchmarkReserveSettleSerial(b *testing.B) {
	s := memory.New()
	defer s.Close()
	b.SetParallelism(1)
	storetest.Bench(b, s)
}

// TestReserveSweepsInline: Reserve charges expired leases without a Sweep,
// and a late settlement corrects the charge.
func TestReserveSweepsInline(t *testing.T) {
	clk := storetest.NewClock()
	s := memory.New(memory.WithClock(clk.Now))
	key := usage.Scope{Kind: usage.KindKey, ID: "k"}
	ch := []usage.Charge{{Scope: key, Period: "2026-11", Limit: 1000}}
	r := func(id string, amount int64) *usage.Reservation {
		return &usage.Reservation{ID: id, Charges: ch, Amount: amount, Expires: clk.Now().Add(time.Minute)}
	}
	crashed := r("crashed", 600)
	if err := s.Reserve(t.Context(), crashed); err != nil {
		t.Fatal(err)
	}
	clk.Advance(time.Minute + time.Second)
	if err := s.Reserve(t.Context(), r("next", 400)); err != nil {
		t.Fatalf("Reserve after the lease expired: %v", err)
	}
	if n, err := s.Sweep(t.Context(), clk.Now()); n != 0 || err != nil {
		t.Errorf("Sweep = %d, %v; want 0 (already charged)", n, err)
	}
	got, err := s.Totals(t.Context(), "2026-11", []usage.Scope{key})
	if err != nil {
		t.Fatal(err)
	}
	if d := cmp.Diff(usage.Totals{Spent: 600, Reserved: 400, Estimated: 600}, got[key]); d != "" {
		t.Errorf("totals (-want +got):\n%s", d)
	}
	if ok, err := s.Settle(t.Context(), crashed, 100); !ok || err != nil {
		t.Errorf("late Settle = %v, %v; want true, nil", ok, err)
	}
	if got, _ = s.Totals(t.Context(), "2026-11", []usage.Scope{key}); got[key] != (usage.Totals{Spent: 100, Reserved: 400}) {
		t.Errorf("totals after the late settlement: %+v", got[key])
	}
}

// TestForgetSettled: settled IDs are forgotten after the default retention
// (usage.LocalSettleRetention), not before, across blocks of the forget
// queue.
func TestForgetSettled(t *testing.T) {
	ctx := t.Context()
	clk := storetest.NewClock()
	s := memory.New(memory.WithClock(clk.Now))
	ch := []usage.Charge{{Scope: usage.Global, Period: "2026-11", Limit: usage.Uncapped}}
	const n = 10000 // more than one block
	rs := make([]*usage.Reservation, n)
	for i := range rs {
		rs[i] = &usage.Reservation{ID: fmt.Sprint(i), Charges: ch, Amount: 1, Expires: clk.Now().Add(time.Minute)}
		if err := s.Reserve(ctx, rs[i]); err != nil {
			t.Fatal(err)
		}
		if i == n/2 {
			clk.Advance(time.Minute) // from n/2 on, settled a minute later
		}
		if _, err := s.Settle(ctx, rs[i], 1); err != nil {
			t.Fatal(err)
		}
	}
	clk.Advance(usage.LocalSettleRetention - time.Minute + time.Second)
	if _, err := s.Sweep(ctx, clk.Now()); err != nil {
		t.Fatal(err)
	}
	for _, i := range []int{0, n/2 - 1, n / 2, n - 1} {
		rs[i].Expires = clk.Now().Add(time.Minute)
		err := s.Reserve(ctx, rs[i])
		if want := i >= n/2; errors.Is(err, usage.ErrDuplicate) != want {
			t.Errorf("Reserve(%s) after the retention: %v, want duplicate %v", rs[i].ID, err, want)
		}
	}
}
