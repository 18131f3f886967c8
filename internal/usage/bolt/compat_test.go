package bolt

import (
	"encoding/binary"
	"path/filepath"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	bolt "go.etcd.io/bbolt"

	"github.com/tollgate-gw/tollgate/internal/usage"
)

// TestVersion1Reservations: a file written before charges had periods of
// their own (reservations of version 1, one period for every charge) keeps
// working after the upgrade: its live reservations settle, and expire, in
// their month, whose counters keep their keys.
func TestVersion1Reservations(t *testing.T) {
	now := time.Date(2026, 11, 20, 12, 0, 0, 0, time.UTC)
	clock := func() time.Time { return now }
	s, err := Open(filepath.Join(t.TempDir(), "usage.db"), WithClock(clock))
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	key := usage.Scope{Kind: usage.KindKey, ID: "k"}
	v1 := func(amount int64, expires time.Time) []byte {
		v := []byte{1}
		v = binary.BigEndian.AppendUint64(v, uint64(expires.UnixNano()))
		v = binary.AppendVarint(v, amount)
		v = appendString(v, "2026-11")
		v = binary.AppendUvarint(v, 1)
		v = appendString(v, string(key.Kind))
		return appendString(v, key.ID)
	}
	err = s.db.Update(func(tx *bolt.Tx) error {
		for id, exp := range map[string]time.Time{"live": now.Add(time.Hour), "crashed": now.Add(time.Minute)} {
			if err := tx.Bucket(bucketRes).Put([]byte(id), v1(1000, exp)); err != nil {
				return err
			}
			if err := tx.Bucket(bucketExp).Put(expKey(exp, id), nil); err != nil {
				return err
			}
		}
		return tx.Bucket(bucketTot).Put(totKey("2026-11", key), encodeTotals(usage.Totals{Spent: 5000, Reserved: 2000}))
	})
	if err != nil {
		t.Fatal(err)
	}
	live := &usage.Reservation{ID: "live", Amount: 1000, Expires: now.Add(time.Hour),
		Charges: []usage.Charge{{Scope: key, Period: "2026-11", Limit: 100000}}}
	if ok, err := s.Settle(t.Context(), live, 400); err != nil || !ok {
		t.Fatalf("Settle(live) = %v, %v", ok, err)
	}
	now = now.Add(2 * time.Minute)
	if n, err := s.Sweep(t.Context(), now); err != nil || n != 1 {
		t.Fatalf("Sweep = %d, %v; want 1", n, err)
	}
	got, err := s.Totals(t.Context(), "2026-11", []usage.Scope{key})
	if err != nil {
		t.Fatal(err)
	}
	want := map[usage.Scope]usage.Totals{key: {Spent: 6400, Estimated: 1000}}
	if d := cmp.Diff(want, got); d != "" {
		t.Errorf("Totals mismatch (-want +got):\n%s", d)
	}
}
