package bolt_test

import (
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/tollgate-gw/tollgate/internal/usage"
	"github.com/tollgate-gw/tollgate/internal/usage/bolt"
	"github.com/tollgate-gw/tollgate/internal/usage/storetest"
)

func open(t testing.TB, path string, now func() time.Time) *bolt.Store {
	t.Helper()
	s, err := bolt.Open(path, bolt.WithClock(now))
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func TestStore(t *testing.T) {
	storetest.Run(t, func(t *testing.T, now func() time.Time) usage.Store {
		s := open(t, filepath.Join(t.TempDir(), "usage.db"), now)
		t.Cleanup(func() { s.Close() })
		return s
	})
}

// TestReopen checks durability: a reopened file has the same totals, its
// live reservations settle normally, and settled IDs stay settled.
func TestReopen(t *testing.T) {
	ctx := t.Context()
	clk := storetest.NewClock()
	path := filepath.Join(t.TempDir(), "usage.db")
	key := usage.Scope{Kind: usage.KindKey, ID: "k"}
	ch := []usage.Charge{{Scope: key, Period: "2026-11", Limit: 10000}, {Scope: usage.Global, Period: "2026-11", Limit: usage.Uncapped}}
	res := func(id string, amount int64, lease time.Duration) *usage.Reservation {
		return &usage.Reservation{ID: id, Charges: ch, Amount: amount, Expires: clk.Now().Add(lease)}
	}
	live, done, short := res("live", 1000, time.Hour), res("done", 500, time.Hour), res("short", 300, time.Minute)

	s := open(t, path, clk.Now)
	for _, r := range []*usage.Reservation{live, done, short} {
		if err := s.Reserve(ctx, r); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := s.Settle(ctx, done, 400); err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Totals(ctx, "2026-11", []usage.Scope{key}); !errors.Is(err, usage.ErrUnavailable) {
		t.Errorf("Totals on a closed store: %v, want ErrUnavailable", err)
	}
	if err := s.Reserve(ctx, res("late", 1, time.Hour)); !errors.Is(err, usage.ErrUnavailable) {
		t.Errorf("Reserve on a closed store: %v, want ErrUnavailable", err)
	}

	s = open(t, path, clk.Now)
	defer s.Close()
	want := map[usage.Scope]usage.Totals{key: {Spent: 400, Reserved: 1300}, usage.Global: {Spent: 400, Reserved: 1300}}
	got, err := s.List(ctx, "2026-11")
	if err != nil {
		t.Fatal(err)
	}
	if d := cmp.Diff(want, got); d != "" {
		t.Fatalf("totals after reopening (-want +got):\n%s", d)
	}
	if ok, err := s.Settle(ctx, done, 400); ok || err != nil {
		t.Errorf("Settle(done) after reopening = %v, %v; want false, nil", ok, err)
	}
	// Reserve sweeps the expired lease inline.
	clk.Advance(2 * time.Minute)
	if err := s.Reserve(ctx, res("next", 100, time.Hour)); err != nil {
		t.Fatal(err)
	}
	if ok, err := s.Settle(ctx, live, 900); !ok || err != nil {
		t.Errorf("Settle(live) after reopening = %v, %v; want true, nil", ok, err)
	}
	// short expired unsettled: charged at its 300, estimated.
	want = map[usage.Scope]usage.Totals{key: {Spent: 1600, Reserved: 100, Estimated: 300}, usage.Global: {Spent: 1600, Reserved: 100, Estimated: 300}}
	if got, err = s.List(ctx, "2026-11"); err != nil {
		t.Fatal(err)
	}
	if d := cmp.Diff(want, got); d != "" {
		t.Fatalf("totals (-want +got):\n%s", d)
	}
	// The swept reservation is remembered across a restart: its late
	// settlement replaces the estimate, once.
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	s = open(t, path, clk.Now)
	defer s.Close()
	for i, wantOK := range []bool{true, false} {
		if ok, err := s.Settle(ctx, short, 50); ok != wantOK || err != nil {
			t.Errorf("late Settle(short) #%d = %v, %v; want %v, nil", i+1, ok, err, wantOK)
		}
	}
	want = map[usage.Scope]usage.Totals{key: {Spent: 1350, Reserved: 100}, usage.Global: {Spent: 1350, Reserved: 100}}
	if got, err = s.List(ctx, "2026-11"); err != nil {
		t.Fatal(err)
	}
	if d := cmp.Diff(want, got); d != "" {
		t.Fatalf("totals after the late settlement (-want +got):\n%s", d)
	}
}

// TestForgetSettled checks that settled IDs are forgotten after the default
// retention (usage.LocalSettleRetention), and not before.
func TestForgetSettled(t *testing.T) {
	ctx := t.Context()
	clk := storetest.NewClock()
	s, err := bolt.Open(filepath.Join(t.TempDir(), "usage.db"), bolt.WithClock(clk.Now))
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	r := &usage.Reservation{ID: "r", Charges: []usage.Charge{{Scope: usage.Global, Period: "2026-11", Limit: usage.Uncapped}}, Amount: 10, Expires: clk.Now().Add(time.Minute)}
	if err := s.Reserve(ctx, r); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Settle(ctx, r, 10); err != nil {
		t.Fatal(err)
	}
	clk.Advance(usage.LocalSettleRetention - time.Minute)
	if _, err := s.Sweep(ctx, clk.Now()); err != nil {
		t.Fatal(err)
	}
	if err := s.Reserve(ctx, r); !errors.Is(err, usage.ErrDuplicate) {
		t.Fatalf("Reserve within retention: %v, want ErrDuplicate", err)
	}
	clk.Advance(2 * time.Minute)
	if _, err := s.Sweep(ctx, clk.Now()); err != nil {
		t.Fatal(err)
	}
	r.Expires = clk.Now().Add(time.Minute)
	if err := s.Reserve(ctx, r); err != nil {
		t.Fatalf("Reserve after retention: %v", err)
	}
}

func BenchmarkReserveSettle(b *testing.B) {
	s, err := bolt.Open(filepath.Join(b.TempDir(), "usage.db"))
	if err != nil {
		b.Fatal(err)
	}
	defer s.Close()
	storetest.Bench(b, s)
}

// TestLockedAndReadOnly checks what a second process sees: while a store is
// open, Open and OpenReadOnly fail with ErrLocked (not bbolt's "timeout");
// once it is closed, OpenReadOnly reads its totals, side by side with
// another reader, and refuses writes; a missing file is not created.
func TestLockedAndReadOnly(t *testing.T) {
	ctx := t.Context()
	clk := storetest.NewClock()
	path := filepath.Join(t.TempDir(), "usage.db")
	key := usage.Scope{Kind: usage.KindKey, ID: "k"}
	r := &usage.Reservation{ID: "r", Charges: []usage.Charge{{Scope: key, Period: "2026-11", Limit: usage.Uncapped}},
		Amount: 700, Expires: clk.Now().Add(time.Hour)}

	if _, err := bolt.OpenReadOnly(path); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("OpenReadOnly of a missing file: %v, want fs.ErrNotExist", err)
	}
	if _, err := os.Stat(path); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("OpenReadOnly created the file: %v", err)
	}

	s := open(t, path, clk.Now)
	if err := s.Reserve(ctx, r); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Settle(ctx, r, 600); err != nil {
		t.Fatal(err)
	}
	for name, open := range map[string]func(string) (*bolt.Store, error){
		"Open":         func(p string) (*bolt.Store, error) { return bolt.Open(p) },
		"OpenReadOnly": bolt.OpenReadOnly,
	} {
		_, err := open(path)
		if !errors.Is(err, bolt.ErrLocked) || !errors.Is(err, usage.ErrUnavailable) {
			t.Errorf("%s of a held file: %v, want ErrLocked and ErrUnavailable", name, err)
		}
		if want := "usage/bolt: " + path + " is locked by another process: usage store unavailable"; err == nil || err.Error() != want {
			t.Errorf("%s of a held file: %v, want %q", name, err, want)
		}
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}

	ro, err := bolt.OpenReadOnly(path)
	if err != nil {
		t.Fatal(err)
	}
	defer ro.Close()
	ro2, err := bolt.OpenReadOnly(path)
	if err != nil {
		t.Fatalf("a second reader: %v", err)
	}
	defer ro2.Close()
	got, err := ro.List(ctx, "2026-11")
	if err != nil {
		t.Fatal(err)
	}
	if d := cmp.Diff(map[usage.Scope]usage.Totals{key: {Spent: 600}}, got); d != "" {
		t.Errorf("read-only totals (-want +got):\n%s", d)
	}
	if err := ro.Reserve(ctx, r); err == nil {
		t.Error("Reserve on a read-only store succeeded")
	}
	if _, err := ro.Sweep(ctx, clk.Now()); err == nil {
		t.Error("Sweep on a read-only store succeeded")
	}
	if err := ro.Close(); err != nil {
		t.Errorf("Close: %v", err)
	}
}

// TestForgetSwept: a swept reservation is remembered for the retention (a
// late settlement corrects it, and its ID cannot be reserved again), then
// forgotten; an ID swept and then settled keeps its settled record for the
// retention counted from the settlement, not from the sweep.
func TestForgetSwept(t *testing.T) {
	ctx := t.Context()
	clk := storetest.NewClock()
	s, err := bolt.Open(filepath.Join(t.TempDir(), "usage.db"), bolt.WithClock(clk.Now))
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	ch := []usage.Charge{{Scope: usage.Global, Period: "2026-11", Limit: 1000}}
	res := func(id string) *usage.Reservation {
		return &usage.Reservation{ID: id, Charges: ch, Amount: 10, Expires: clk.Now().Add(time.Minute)}
	}
	forgotten, settledLate := res("forgotten"), res("settled-late")
	for _, r := range []*usage.Reservation{forgotten, settledLate} {
		if err := s.Reserve(ctx, r); err != nil {
			t.Fatal(err)
		}
	}
	clk.Advance(2 * time.Minute)
	if n, err := s.Sweep(ctx, clk.Now()); n != 2 || err != nil {
		t.Fatalf("Sweep = %d, %v; want 2", n, err)
	}
	clk.Advance(usage.LocalSettleRetention / 2)
	if ok, err := s.Settle(ctx, settledLate, 4); !ok || err != nil {
		t.Fatalf("late Settle = %v, %v; want true", ok, err)
	}
	// Past the sweep's retention, not the settlement's.
	clk.Advance(usage.LocalSettleRetention/2 + time.Minute)
	if _, err := s.Sweep(ctx, clk.Now()); err != nil {
		t.Fatal(err)
	}
	if ok, err := s.Settle(ctx, settledLate, 4); ok || err != nil {
		t.Errorf("Settle(settled-late) again = %v, %v; want false: still within its settlement's retention", ok, err)
	}
	if err := s.Reserve(ctx, res("forgotten")); err != nil {
		t.Errorf("Reserve(forgotten) after the retention: %v", err)
	}
	got, err := s.Totals(ctx, "2026-11", []usage.Scope{usage.Global})
	if err != nil {
		t.Fatal(err)
	}
	if want := (usage.Totals{Spent: 14, Reserved: 10, Estimated: 10}); got[usage.Global] != want {
		t.Errorf("totals %+v, want %+v", got[usage.Global], want)
	}
}
