// Package memory is a usage.Store held in one process's memory: for tests,
// development and single-process gateways that may forget their totals on
// restart.
package memory

import (
	"container/heap"
	"context"
	"fmt"
	"hash/maphash"
	"sync"
	"time"

	"github.com/tollgate-gw/tollgate/internal/usage"
)

var (
	_ usage.Store   = (*Store)(nil)
	_ usage.Limiter = (*Store)(nil)
)

// Store is a usage.Store in memory, guarded by one mutex. Reserve charges
// the leases that have expired (by the injected clock) before checking caps,
// so a crashed caller's holds turn into (estimated) spend no later than the
// next Reserve after their lease.
type Store struct {
	Limiter // the rate-limit windows, this process's own

	now       func() time.Time
	retention time.Duration

	mu      sync.Mutex
	closed  bool
	periods map[string]map[usage.Scope]*usage.Totals
	live    map[string]*lease   // by ID
	leases  leaseHeap           // live leases, soonest expiry first
	settled map[idHash]struct{} // settled IDs, hashed so that the GC need not scan them
	forget  [][]marker          // settled IDs in order of settlement, in blocks, to forget after retention
	head    int                 // forget[0][:head] are forgotten already
	swept   map[string]swept    // reservations charged by a sweep, not settled since, by ID
	order   []sweptMarker       // swept IDs in order of sweeping, to forget after retention
	seeds   [2]maphash.Seed
	alerts  map[usage.Alert]struct{} // alert.go
}

// swept is a reservation a sweep charged at its amount, kept so that a late
// settlement can correct the charge.
type swept struct {
	r     usage.Reservation
	after int64 // unix ns: forgotten after
}

type sweptMarker struct {
	id    string
	after int64
}

type lease struct {
	r     usage.Reservation
	index int // in the heap
}

// idHash is a 128-bit hash of a reservation ID under the Store's random
// seeds: IDs are caller-made, and a collision of two of them is as likely as
// guessing 128 random bits.
type idHash [2]uint64

func (s *Store) hash(id string) idHash {
	return idHash{maphash.String(s.seeds[0], id), maphash.String(s.seeds[1], id)}
}

// forgetBlock is how many settled IDs a block of the forget queue holds: a
// queue of blocks grows without copying them.
const forgetBlock = 4096

type marker struct {
	h     idHash
	after int64 // unix ns
}

// Option configures a Store.
type Option func(*Store)

// WithClock makes the Store read the time from now (for Reserve's inline
// sweep and the settlement retention). The default is time.Now.
func WithClock(now func() time.Time) Option { return func(s *Store) { s.now = now } }

// WithRetention sets how long a settled ID is remembered (default
// usage.LocalSettleRetention).
func WithRetention(d time.Duration) Option { return func(s *Store) { s.retention = d } }

// New returns an empty Store.
func New(opts ...Option) *Store {
	s := &Store{
		now:       time.Now,
		retention: usage.LocalSettleRetention,
		periods:   make(map[string]map[usage.Scope]*usage.Totals),
		live:      make(map[string]*lease),
		settled:   make(map[idHash]struct{}),
		swept:     make(map[string]swept),
		seeds:     [2]maphash.Seed{maphash.MakeSeed(), maphash.MakeSeed()},
	}
	for _, o := range opts {
		o(s)
	}
	return s
}

var errClosed = fmt.Errorf("%w: memory store closed", usage.ErrUnavailable)

// period returns the totals of period's scopes, creating the map.
func (s *Store) period(period string) map[usage.Scope]*usage.Totals {
	p := s.periods[period]
	if p == nil {
		p = make(map[usage.Scope]*usage.Totals)
		s.periods[period] = p
	}
	return p
}

// totals returns the totals of scope in p, creating them.
func totals(p map[usage.Scope]*usage.Totals, scope usage.Scope) *usage.Totals {
	t := p[scope]
	if t == nil {
		t = new(usage.Totals)
		p[scope] = t
	}
	return t
}

// Reserve implements [usage.Store.Reserve].
func (s *Store) Reserve(ctx context.Context, r *usage.Reservation) error {
	if err := r.Validate(); err != nil {
		return err
	}
	now := s.now()
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return errClosed
	}
	s.sweep(now)
	if _, ok := s.live[r.ID]; ok {
		return fmt.Errorf("%w: %s", usage.ErrDuplicate, r.ID)
	}
	if _, ok := s.settled[s.hash(r.ID)]; ok {
		return fmt.Errorf("%w: %s (settled)", usage.ErrDuplicate, r.ID)
	}
	if _, ok := s.swept[r.ID]; ok {
		return fmt.Errorf("%w: %s (expired)", usage.ErrDuplicate, r.ID)
	}
	var buf [4]*usage.Totals
	ts := buf[:0]
	for _, c := range r.Charges {
		ts = append(ts, totals(s.period(c.Period), c.Scope))
	}
	for i, c := range r.Charges {
		if c.Capped() && ts[i].Committed() > c.Limit-r.Amount {
			vals := make([]usage.Totals, len(ts))
			for j, t := range ts {
				vals[j] = *t
			}
			return usage.Exceeded(r.Charges, vals, r.Amount)
		}
	}
	for _, t := range ts {
		t.Reserved += r.Amount
	}
	l := &lease{r: *r}
	l.r.Charges = append([]usage.Charge(nil), r.Charges...)
	s.live[r.ID] = l
	heap.Push(&s.leases, l)
	return nil
}

// Settle implements [usage.Store.Settle].
func (s *Store) Settle(ctx context.Context, r *usage.Reservation, actual int64) (bool, error) {
	if err := usage.CheckSettle(r, actual); err != nil {
		return false, err
	}
	now := s.now()
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return false, errClosed
	}
	s.forgetSettled(now)
	h := s.hash(r.ID)
	if _, ok := s.settled[h]; ok {
		return false, nil
	}
	if l, ok := s.live[r.ID]; ok {
		// The stored reservation is authoritative: it is what was held.
		for _, c := range l.r.Charges {
			t := totals(s.period(c.Period), c.Scope)
			t.Reserved -= l.r.Amount
			t.Spent += actual
		}
		delete(s.live, r.ID)
		heap.Remove(&s.leases, l.index)
	} else if sw, ok := s.swept[r.ID]; ok {
		// Charged at its amount by a sweep: replace the estimate.
		for _, c := range sw.r.Charges {
			t := totals(s.period(c.Period), c.Scope)
			t.Spent += actual - sw.r.Amount
			t.Estimated -= sw.r.Amount
		}
		delete(s.swept, r.ID)
	} else {
		// Never reserved here: charge what was spent, once.
		for _, c := range r.Charges {
			totals(s.period(c.Period), c.Scope).Spent += actual
		}
	}
	s.settled[h] = struct{}{}
	if n := len(s.forget); n == 0 || len(s.forget[n-1]) == forgetBlock {
		s.forget = append(s.forget, make([]marker, 0, forgetBlock))
	}
	last := &s.forget[len(s.forget)-1]
	*last = append(*last, marker{h: h, after: now.Add(s.retention).UnixNano()})
	return true, nil
}

// Totals implements [usage.Store.Totals].
func (s *Store) Totals(ctx context.Context, period string, scopes []usage.Scope) (map[usage.Scope]usage.Totals, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return nil, errClosed
	}
	out := make(map[usage.Scope]usage.Totals, len(scopes))
	p := s.periods[period]
	for _, sc := range scopes {
		var t usage.Totals
		if pt := p[sc]; pt != nil {
			t = *pt
		}
		out[sc] = t
	}
	return out, nil
}

// List implements [usage.Store.List].
func (s *Store) List(ctx context.Context, period string) (map[usage.Scope]usage.Totals, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return nil, errClosed
	}
	out := make(map[usage.Scope]usage.Totals, len(s.periods[period]))
	for sc, t := range s.periods[period] {
		out[sc] = *t
	}
	return out, nil
}

// Sweep implements [usage.Store.Sweep]. It also forgets settled and swept
// IDs older than the retention.
func (s *Store) Sweep(ctx context.Context, now time.Time) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return 0, errClosed
	}
	s.forgetSettled(now)
	s.forgetSwept(now)
	return s.sweep(now), nil
}

// sweep charges the leases that expired before now at their amount. s.mu
// is held.
func (s *Store) sweep(now time.Time) int {
	n := 0
	after := now.Add(s.retention).UnixNano()
	for len(s.leases) > 0 && s.leases[0].r.Expires.Before(now) {
		l := heap.Pop(&s.leases).(*lease)
		for _, c := range l.r.Charges {
			t := totals(s.period(c.Period), c.Scope)
			t.Reserved -= l.r.Amount
			t.Spent += l.r.Amount
			t.Estimated += l.r.Amount
		}
		delete(s.live, l.r.ID)
		s.swept[l.r.ID] = swept{r: l.r, after: after}
		s.order = append(s.order, sweptMarker{id: l.r.ID, after: after})
		n++
	}
	return n
}

// forgetSwept drops the swept reservations whose retention ended before
// now: a settlement later than that charges its actual cost on top. s.mu is
// held.
func (s *Store) forgetSwept(now time.Time) {
	ns := now.UnixNano()
	i := 0
	for ; i < len(s.order) && s.order[i].after < ns; i++ {
		if sw, ok := s.swept[s.order[i].id]; ok && sw.after == s.order[i].after {
			delete(s.swept, s.order[i].id)
		}
	}
	s.order = append(s.order[:0], s.order[i:]...)
}

// forgetSettled drops the settled IDs whose retention ended before now.
// s.mu is held.
func (s *Store) forgetSettled(now time.Time) {
	ns := now.UnixNano()
	for len(s.forget) > 0 {
		b := s.forget[0]
		for s.head < len(b) && b[s.head].after < ns {
			delete(s.settled, b[s.head].h)
			s.head++
		}
		if s.head < forgetBlock {
			return // the first block still has IDs to keep (or room to fill)
		}
		s.forget[0] = nil
		s.forget, s.head = s.forget[1:], 0
	}
}

// Close implements [usage.Store.Close]. Later calls fail with an error
// wrapping usage.ErrUnavailable.
func (s *Store) Close() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.closed = true
	return nil
}

// leaseHeap is a container/heap of leases ordered by expiry.
type leaseHeap []*lease

func (h leaseHeap) Len() int           { return len(h) }
func (h leaseHeap) Less(i, j int) bool { return h[i].r.Expires.Before(h[j].r.Expires) }
func (h leaseHeap) Swap(i, j int) {
	h[i], h[j] = h[j], h[i]
	h[i].index = i
	h[j].index = j
}
func (h *leaseHeap) Push(x any) {
	l := x.(*lease)
	l.index = len(*h)
	*h = append(*h, l)
}
func (h *leaseHeap) Pop() any {
	old := *h
	l := old[len(old)-1]
	old[len(old)-1] = nil
	*h = old[:len(old)-1]
	return l
}
