package usage

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/fnv"
	"slices"
	"time"
)

// RateWindow is the sliding window of the requests and tokens rate limits:
// an admission counts against them for exactly this long after it was made.
const RateWindow = time.Minute

// RateLimit is one scope's rate limits; a field <= 0 is no limit.
type RateLimit struct {
	Scope      Scope
	Requests   int64 // admissions in any sliding RateWindow
	Tokens     int64 // tokens of the admissions in any sliding RateWindow
	Concurrent int64 // admissions not yet released (nor past their lease)
}

// Admission asks for one request's room under its scopes' rate limits.
//
// ID identifies it for Release (the request id). Tokens is its worst case,
// held in the tokens window until Release corrects it. Now is the
// admission's time, by the caller's clock (shared stores compare the times
// of every process: their clocks must agree to well under a second).
// Expires ends its concurrency slot if it is never released.
type Admission struct {
	ID      string
	Limits  []RateLimit
	Tokens  int64
	Now     time.Time
	Expires time.Time
}

// RateState is what one scope's rate limits allow, right after an
// admission (counting it) or at a refusal (not counting it).
type RateState struct {
	Limit    RateLimit
	Requests int64 // admissions in the window
	Tokens   int64 // their tokens
	InFlight int64 // admissions not released
	// RequestsReset and TokensReset are how long until the oldest
	// admission in the window leaves it (0 for an empty window).
	RequestsReset, TokensReset time.Duration
}

// RateLimitedError is a refusal by a rate limit: Dimension ("requests",
// "tokens" or "concurrent") of Scope is full. RetryAfter is how long until
// the request would fit, as far as the window tells (0: never, for a
// request whose tokens alone exceed the limit; a second for a concurrency
// limit, which frees when some request ends). State is that scope's.
type RateLimitedError struct {
	Scope      Scope
	Dimension  string
	RetryAfter time.Duration
	Need       int64 // the tokens asked for, for a tokens refusal
	State      RateState
	States     []RateState // every scope's, for the response headers
}

// Error implements error.
func (e *RateLimitedError) Error() string {
	return fmt.Sprintf("usage: %s rate limit of %s reached", e.Dimension, e.Scope)
}

// RateRelease ends an admission: its tokens in the window become Tokens
// (what the request really used) and its concurrency slot frees. Cancel
// instead removes the admission altogether, as if it had never been made
// (the request was refused by a later guard and never ran).
type RateRelease struct {
	ID     string
	Scopes []Scope
	Tokens int64
	Cancel bool
	Now    time.Time
}

// Limiter keeps the rate-limit windows. Implementations are safe for
// concurrent use. memory and bolt keep them per process; dynamo in the
// table, shared by every process.
type Limiter interface {
	// Acquire atomically admits a on every scope, provided each scope's
	// limits hold with it; otherwise it changes nothing and returns a
	// *RateLimitedError. The states are every scope's after the admission.
	Acquire(ctx context.Context, a *Admission) ([]RateState, error)
	// Release ends an admission (see RateRelease). Releasing an unknown or
	// already released ID changes nothing.
	Release(ctx context.Context, r *RateRelease) error
}

// Validate reports whether a is well formed; its errors wrap ErrInvalid.
func (a *Admission) Validate() error {
	switch {
	case a == nil:
		return fmt.Errorf("%w: nil admission", ErrInvalid)
	case a.ID == "":
		return fmt.Errorf("%w: empty admission id", ErrInvalid)
	case a.Tokens < 0:
		return fmt.Errorf("%w: admission %s: negative tokens %d", ErrInvalid, a.ID, a.Tokens)
	case len(a.Limits) == 0 || len(a.Limits) > MaxCharges:
		return fmt.Errorf("%w: admission %s: %d limits, want 1 to %d", ErrInvalid, a.ID, len(a.Limits), MaxCharges)
	case a.Now.IsZero():
		return fmt.Errorf("%w: admission %s: no time", ErrInvalid, a.ID)
	}
	for i, l := range a.Limits {
		if err := l.Scope.validate(); err != nil {
			return fmt.Errorf("%w: admission %s: %v", ErrInvalid, a.ID, err)
		}
		for _, m := range a.Limits[:i] {
			if m.Scope == l.Scope {
				return fmt.Errorf("%w: admission %s: scope %s limited twice", ErrInvalid, a.ID, l.Scope)
			}
		}
	}
	return nil
}

// Window is one scope's admissions still counting against a limit, oldest
// first: the state every Limiter keeps per scope, with the one decision
// they all make. Stores that serialize it use Encode and DecodeWindow.
type Window struct {
	entries []windowEntry
}

type windowEntry struct {
	id     uint64 // a hash of the admission id
	at     int64  // unix ms of the admission
	tokens int64
	until  int64 // unix ms the concurrency slot ends; 0 once released
}

func idOf(id string) uint64 {
	h := fnv.New64a()
	h.Write([]byte(id))
	return h.Sum64()
}

const windowMs = int64(RateWindow / time.Millisecond)

// prune drops the entries that count for nothing at now.
func (w *Window) prune(now int64) {
	w.entries = slices.DeleteFunc(w.entries, func(e windowEntry) bool {
		return e.at <= now-windowMs && e.until <= now
	})
}

// State returns the window's state under l at now (in unix ms).
func (w *Window) state(l RateLimit, now int64) RateState {
	s := RateState{Limit: l}
	oldest := int64(-1)
	for _, e := range w.entries {
		if e.at > now-windowMs {
			s.Requests++
			s.Tokens += e.tokens
			if oldest < 0 {
				oldest = e.at
			}
		}
		if e.until > now {
			s.InFlight++
		}
	}
	if oldest >= 0 {
		s.RequestsReset = time.Duration(oldest+windowMs-now) * time.Millisecond
		s.TokensReset = s.RequestsReset
	}
	return s
}

// check returns the refusal of a under l at now, or nil with the window's
// state counting a.
func (w *Window) check(l RateLimit, a *Admission, now int64) (RateState, *RateLimitedError) {
	s := w.state(l, now)
	refuse := func(dim string, after time.Duration) (RateState, *RateLimitedError) {
		return s, &RateLimitedError{Scope: l.Scope, Dimension: dim, RetryAfter: after, Need: a.Tokens, State: s}
	}
	if l.Concurrent > 0 && s.InFlight+1 > l.Concurrent {
		return refuse("concurrent", time.Second)
	}
	if l.Requests > 0 && s.Requests+1 > l.Requests {
		return refuse("requests", s.RequestsReset)
	}
	if l.Tokens > 0 && s.Tokens+a.Tokens > l.Tokens {
		if a.Tokens > l.Tokens {
			return refuse("tokens", 0)
		}
		// Wait until enough of the oldest admissions leave the window.
		excess := s.Tokens + a.Tokens - l.Tokens
		var after time.Duration
		for _, e := range w.entries {
			if e.at <= now-windowMs {
				continue
			}
			excess -= e.tokens
			after = time.Duration(e.at+windowMs-now) * time.Millisecond
			if excess <= 0 {
				break
			}
		}
		return refuse("tokens", after)
	}
	s.Requests++
	s.Tokens += a.Tokens
	s.InFlight++
	if s.RequestsReset == 0 {
		s.RequestsReset, s.TokensReset = RateWindow, RateWindow
	}
	return s, nil
}

// Admit checks a against every limit, given each scope's window
// (windows[i] belongs to a.Limits[i]), and adds it to every window when
// all hold. It returns the states after the admission, or the refusal of
// the first scope that cannot take it, changing nothing. Windows are
// pruned of what no longer counts either way.
func Admit(a *Admission, windows []*Window) ([]RateState, error) {
	now := a.Now.UnixMilli()
	states := make([]RateState, len(a.Limits))
	var refusal *RateLimitedError
	for i, l := range a.Limits {
		windows[i].prune(now)
		s, r := windows[i].check(l, a, now)
		states[i] = s
		if r != nil && refusal == nil {
			refusal = r
		}
	}
	if refusal != nil {
		// The states say what each scope has now, without a.
		for i, l := range a.Limits {
			states[i] = windows[i].state(l, now)
		}
		refusal.States = states
		return nil, refusal
	}
	e := windowEntry{id: idOf(a.ID), at: now, tokens: a.Tokens, until: max(a.Expires.UnixMilli(), now+1)}
	for _, w := range windows {
		w.entries = append(w.entries, e)
		// Clocks of processes differ a little: keep the order by time.
		for j := len(w.entries) - 1; j > 0 && w.entries[j].at < w.entries[j-1].at; j-- {
			w.entries[j], w.entries[j-1] = w.entries[j-1], w.entries[j]
		}
	}
	return states, nil
}

// Release applies r to w; it reports whether w changed.
func (w *Window) Release(r *RateRelease) bool {
	id := idOf(r.ID)
	now := r.Now.UnixMilli()
	changed := false
	for i := range w.entries {
		e := &w.entries[i]
		if e.id != id {
			continue
		}
		if r.Cancel {
			w.entries = slices.Delete(w.entries, i, i+1)
			changed = true
			break
		}
		if e.until != 0 || e.tokens != r.Tokens {
			e.until, e.tokens, changed = 0, r.Tokens, true
		}
		break
	}
	w.prune(now)
	return changed
}

// Len returns how many admissions w holds.
func (w *Window) Len() int { return len(w.entries) }

// Encode returns w in a compact binary form (about 20 bytes an admission).
func (w *Window) Encode() []byte {
	b := make([]byte, 0, 1+len(w.entries)*24)
	b = append(b, 1) // version
	var prev int64
	for _, e := range w.entries {
		b = binary.LittleEndian.AppendUint64(b, e.id)
		b = binary.AppendVarint(b, e.at-prev)
		prev = e.at
		b = binary.AppendUvarint(b, uint64(e.tokens))
		u := int64(0)
		if e.until != 0 {
			u = e.until - e.at + 1
		}
		b = binary.AppendVarint(b, u)
	}
	return b
}

// errWindow reports a stored window that does not decode.
var errWindow = errors.New("usage: corrupt rate window")

// DecodeWindow reads what Encode wrote; an empty b is an empty window.
func DecodeWindow(b []byte) (*Window, error) {
	w := &Window{}
	if len(b) == 0 {
		return w, nil
	}
	if b[0] != 1 {
		return nil, fmt.Errorf("%w: version %d", errWindow, b[0])
	}
	b = b[1:]
	var prev int64
	for len(b) > 0 {
		if len(b) < 8 {
			return nil, errWindow
		}
		var e windowEntry
		e.id = binary.LittleEndian.Uint64(b)
		b = b[8:]
		d, n := binary.Varint(b)
		if n <= 0 {
			return nil, errWindow
		}
		b = b[n:]
		e.at = prev + d
		prev = e.at
		t, n := binary.Uvarint(b)
		if n <= 0 {
			return nil, errWindow
		}
		b = b[n:]
		e.tokens = int64(t)
		u, n := binary.Varint(b)
		if n <= 0 {
			return nil, errWindow
		}
		b = b[n:]
		if u != 0 {
			e.until = e.at + u - 1
		}
		w.entries = append(w.entries, e)
	}
	return w, nil
}

// Validate reports whether r is well formed; its errors wrap ErrInvalid.
func (r *RateRelease) Validate() error {
	switch {
	case r == nil:
		return fmt.Errorf("%w: nil release", ErrInvalid)
	case r.ID == "":
		return fmt.Errorf("%w: empty release id", ErrInvalid)
	case r.Tokens < 0:
		return fmt.Errorf("%w: release %s: negative tokens %d", ErrInvalid, r.ID, r.Tokens)
	case r.Now.IsZero():
		return fmt.Errorf("%w: release %s: no time", ErrInvalid, r.ID)
	}
	return nil
}
