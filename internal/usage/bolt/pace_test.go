package bolt

import (
	"context"
	"fmt"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/tollgate-gw/tollgate/internal/usage"
)

// TestPacing: writers arriving steadily while each commit takes 2 ms (a
// slow disk's fsyncs) are grouped into far fewer commits than the 2 ms
// commits alone would give, and every write is applied once. A writer
// alone after a quiet period is committed by itself.
func TestPacing(t *testing.T) {
	commitHook = func() { time.Sleep(2 * time.Millisecond) }
	t.Cleanup(func() { commitHook = nil })
	s, err := Open(filepath.Join(t.TempDir(), "usage.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()

	const writers, spacing = 400, 250 * time.Microsecond
	ctx := context.Background()
	scope := usage.Scope{Kind: usage.KindKey, ID: "k"}
	start := time.Now()
	var wg sync.WaitGroup
	for i := range writers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			time.Sleep(time.Until(start.Add(time.Duration(i) * spacing)))
			r := &usage.Reservation{ID: fmt.Sprintf("req-%04d", i), Charges: []usage.Charge{{Scope: scope, Period: "2026-11", Limit: usage.Uncapped}}}
			if ok, err := s.Settle(ctx, r, 3); err != nil || !ok {
				t.Errorf("Settle %s = %v, %v", r.ID, ok, err)
			}
		}()
	}
	wg.Wait()
	commits := s.commits.Load()
	t.Logf("%d writes, %d commits", writers, commits)
	// Unpaced, a commit every 2 ms takes about 8 writes (50 commits); paced,
	// up to 20 ms of writes.
	if commits > writers/16 {
		t.Errorf("%d writes took %d commits, want at most %d", writers, commits, writers/16)
	}
	tot, err := s.Totals(ctx, "2026-11", []usage.Scope{scope})
	if err != nil {
		t.Fatal(err)
	}
	if got := tot[scope].Spent; got != 3*writers {
		t.Errorf("spent %d, want %d", got, 3*writers)
	}

	time.Sleep(50 * time.Millisecond) // quiet: the last group was small or long gone
	before := s.commits.Load()
	r := &usage.Reservation{ID: "lone", Charges: []usage.Charge{{Scope: scope, Period: "2026-11", Limit: usage.Uncapped}}}
	if _, err := s.Settle(ctx, r, 1); err != nil {
		t.Fatal(err)
	}
	if d := s.commits.Load() - before; d != 1 {
		t.Errorf("a lone write took %d commits", d)
	}
}
