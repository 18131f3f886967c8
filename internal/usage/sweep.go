package usage

import (
	"context"
	"time"
)

// SweepEvery calls s.Sweep(ctx, now()) every interval until ctx is done,
// then returns ctx's error. It reports each sweep that charged something or
// failed to report (which may be nil); a failed sweep is retried at the next
// tick. A gateway runs one per process (sweeps of one store by several
// processes are safe: a lease is charged once).
func SweepEvery(ctx context.Context, s Store, interval time.Duration, now func() time.Time, report func(charged int, err error)) error {
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-t.C:
		}
		n, err := s.Sweep(ctx, now())
		if (n > 0 || err != nil) && report != nil && ctx.Err() == nil {
			report(n, err)
		}
	}
}
