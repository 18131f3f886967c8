package storetest

import (
	"errors"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/tollgate-gw/tollgate/internal/usage"
)

// testAlertOnce checks that MarkAlert says first exactly once per scope,
// threshold and period, also to concurrent callers on several stores
// (store(i) returns the i-th caller's store), and leaves totals alone.
func testAlertOnce(t *testing.T, store func(i int) usage.Store) {
	alerter := func(i int) usage.Alerter {
		a, ok := store(i).(usage.Alerter)
		if !ok {
			t.Fatalf("%T does not implement usage.Alerter", store(i))
		}
		return a
	}
	ctx := t.Context()
	marks := []usage.Alert{
		{Period: period, Scope: keyA, Threshold: "0.5"},
		{Period: period, Scope: keyA, Threshold: "0.8"},
		{Period: period, Scope: keyB, Threshold: "0.5"},
		{Period: period, Scope: team, Threshold: "0.5"},
		{Period: period, Scope: glob, Threshold: "1"},
		{Period: "2026-12", Scope: keyA, Threshold: "0.5"},
	}
	const callers = 8
	for _, m := range marks {
		var firsts atomic.Int32
		var wg sync.WaitGroup
		for i := range callers {
			wg.Add(1)
			go func() {
				defer wg.Done()
				first, err := alerter(i).MarkAlert(ctx, m)
				if err != nil {
					t.Errorf("MarkAlert(%v): %v", m, err)
				}
				if first {
					firsts.Add(1)
				}
			}()
		}
		wg.Wait()
		if n := firsts.Load(); n != 1 {
			t.Errorf("MarkAlert(%v): first %d times across %d callers, want 1", m, n, callers)
		}
		if first, err := alerter(0).MarkAlert(ctx, m); first || err != nil {
			t.Errorf("MarkAlert(%v) again = %v, %v; want false, nil", m, first, err)
		}
	}
	if _, err := alerter(0).MarkAlert(ctx, usage.Alert{Period: period, Scope: keyA}); !errors.Is(err, usage.ErrInvalid) {
		t.Errorf("MarkAlert without a threshold: %v, want ErrInvalid", err)
	}
	if _, err := alerter(0).MarkAlert(ctx, usage.Alert{Period: period, Scope: usage.Scope{Kind: usage.KindKey}, Threshold: "1"}); !errors.Is(err, usage.ErrInvalid) {
		t.Errorf("MarkAlert of a key without id: %v, want ErrInvalid", err)
	}
	if got, err := store(0).List(ctx, period); err != nil || len(got) != 0 {
		t.Errorf("List after marking alerts = %v, %v; want no totals", got, err)
	}
}
