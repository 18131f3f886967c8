package memory

import (
	"context"
	"sync"

	"github.com/tollgate-gw/tollgate/internal/usage"
)

var _ usage.Limiter = (*Limiter)(nil)

// Limiter is a usage.Limiter in one process's memory, guarded by one
// mutex: every process has windows of its own. The zero Limiter is ready.
type Limiter struct {
	mu      sync.Mutex
	windows map[usage.Scope]*usage.Window
}

// Acquire implements [usage.Limiter.Acquire].
func (l *Limiter) Acquire(_ context.Context, a *usage.Admission) ([]usage.RateState, error) {
	if err := a.Validate(); err != nil {
		return nil, err
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.windows == nil {
		l.windows = map[usage.Scope]*usage.Window{}
	}
	ws := make([]*usage.Window, len(a.Limits))
	for i, lim := range a.Limits {
		w := l.windows[lim.Scope]
		if w == nil {
			w = &usage.Window{}
			l.windows[lim.Scope] = w
		}
		ws[i] = w
	}
	states, err := usage.Admit(a, ws)
	l.drop(a.Limits)
	return states, err
}

// Release implements [usage.Limiter.Release].
func (l *Limiter) Release(_ context.Context, r *usage.RateRelease) error {
	if err := r.Validate(); err != nil {
		return err
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	for _, sc := range r.Scopes {
		if w := l.windows[sc]; w != nil {
			w.Release(r)
			if w.Len() == 0 {
				delete(l.windows, sc)
			}
		}
	}
	return nil
}

// drop forgets the empty windows of limits, so that scopes no longer used
// hold no memory.
func (l *Limiter) drop(limits []usage.RateLimit) {
	for _, lim := range limits {
		if w := l.windows[lim.Scope]; w != nil && w.Len() == 0 {
			delete(l.windows, lim.Scope)
		}
	}
}
