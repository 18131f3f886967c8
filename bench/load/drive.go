package main

// The load loop and what it measures, shared by the gateway client and the
// bare-SDK worker.

import (
	"context"
	"slices"
	"sync"
	"sync/atomic"
	"time"
)

// call makes one request and returns how many streamed chunks it received
// (0 for a plain request).
type call func(ctx context.Context) (chunks int, err error)

// result is what a load phase saw from the client side.
type result struct {
	Requests  int             `json:"requests"` // completed without error
	Errors    int             `json:"errors"`
	FirstErr  string          `json:"first_err,omitempty"`
	Chunks    int64           `json:"chunks"`
	Wall      time.Duration   `json:"wall_ns"`
	Latencies []time.Duration `json:"latencies_ns"` // one per successful request, sorted
	CPUMicros int64           `json:"cpu_us"`       // set by the bare-SDK worker: its own utime+stime
	TimeWaits int             `json:"time_waits"`   // set by the bare-SDK worker: connections it closed to the simulator
}

// drive makes n calls from c concurrent workers, or as many as fit before
// ctx ends, and collects their latencies.
func drive(ctx context.Context, n, c int, do call) result {
	var (
		next   atomic.Int64
		mu     sync.Mutex
		res    result
		wg     sync.WaitGroup
		chunks atomic.Int64
	)
	res.Latencies = make([]time.Duration, 0, n)
	start := time.Now()
	for range c {
		wg.Go(func() {
			lat := make([]time.Duration, 0, n/c+1)
			var errs int
			var firstErr string
			for next.Add(1) <= int64(n) && ctx.Err() == nil {
				t0 := time.Now()
				k, err := do(ctx)
				d := time.Since(t0)
				if err != nil {
					if errs == 0 {
						firstErr = err.Error()
					}
					errs++
					continue
				}
				chunks.Add(int64(k))
				lat = append(lat, d)
			}
			mu.Lock()
			res.Latencies = append(res.Latencies, lat...)
			res.Errors += errs
			if res.FirstErr == "" {
				res.FirstErr = firstErr
			}
			mu.Unlock()
		})
	}
	wg.Wait()
	res.Wall = time.Since(start)
	res.Requests = len(res.Latencies)
	res.Chunks = chunks.Load()
	slices.Sort(res.Latencies)
	return res
}

// percentile returns the nearest-rank p-th percentile (0 < p <= 100) of
// sorted latencies.
func percentile(sorted []time.Duration, p float64) time.Duration {
	if len(sorted) == 0 {
		return 0
	}
	i := int(p/100*float64(len(sorted))+0.999999) - 1
	return sorted[min(max(i, 0), len(sorted)-1)]
}

// add sums o into r: counts, wall time, CPU and latencies (kept sorted).
func (r *result) add(o result) {
	r.Requests += o.Requests
	r.Errors += o.Errors
	if r.FirstErr == "" {
		r.FirstErr = o.FirstErr
	}
	r.Chunks += o.Chunks
	r.Wall += o.Wall
	r.CPUMicros += o.CPUMicros
	r.TimeWaits += o.TimeWaits
	r.Latencies = append(r.Latencies, o.Latencies...)
	slices.Sort(r.Latencies)
}
