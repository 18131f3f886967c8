package bolt

import (
	"context"
	"fmt"
	"path/filepath"
	"sync"
	"testing"
	"time"

	bbolt "go.etcd.io/bbolt"

	"github.com/tollgate-gw/tollgate/internal/usage"
)

// TestAppendsFillPages: settlements with time-ordered IDs (the gateway's
// request ids) fill the pages of the marker buckets instead of leaving each
// half empty: about 100 bytes of file per settlement, not 190.
func TestAppendsFillPages(t *testing.T) {
	s, err := Open(filepath.Join(t.TempDir(), "usage.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	const n, workers = 8000, 64
	var wg sync.WaitGroup
	scope := usage.Scope{Kind: usage.KindKey, ID: "k"}
	base := time.Now().UnixNano()
	for w := range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := w; i < n; i += workers {
				r := &usage.Reservation{ID: fmt.Sprintf("%016x-%04d", base+int64(i)*1000, i), Charges: []usage.Charge{{Scope: scope, Period: "2026-11", Limit: usage.Uncapped}}}
				if _, err := s.Settle(context.Background(), r, 1); err != nil {
					t.Error(err)
				}
			}
		}()
	}
	wg.Wait()
	err = s.db.View(func(tx *bbolt.Tx) error {
		per := float64(tx.Size()) / n
		t.Logf("%d settlements: %d bytes of pages, %.0f per settlement", n, tx.Size(), per)
		if per > 140 {
			t.Errorf("%.0f bytes of file per settlement, want at most 140: pages are left half empty", per)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}
