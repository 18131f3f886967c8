package policy

import "sync/atomic"

// Holder holds the current Policy. Load and Store are safe for concurrent use;
// a request reads the Policy once and keeps it to the end.
type Holder struct {
	p       atomic.Pointer[Policy]
	failing atomic.Bool // the last reload failed (WatchOptions.Install)
}

// NewHolder returns a Holder holding p.
func NewHolder(p *Policy) *Holder {
	h := &Holder{}
	h.p.Store(p)
	return h
}

// Load returns the current Policy.
func (h *Holder) Load() *Policy { return h.p.Load() }

// Store makes p the current Policy for requests that start from now on.
func (h *Holder) Store(p *Policy) { h.p.Store(p) }
