package usage

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"
)

// Kind is the kind of a budget scope.
type Kind string

// The kinds of scope a budget can cap.
const (
	KindKey    Kind = "key"
	KindTeam   Kind = "team"
	KindGlobal Kind = "global"
)

// Scope is what a budget caps. The global scope has ID "".
type Scope struct {
	Kind Kind
	ID   string
}

// Global is the one global scope.
var Global = Scope{Kind: KindGlobal}

// String returns "kind:id" ("global" for the global scope), for messages.
func (s Scope) String() string {
	if s.Kind == KindGlobal && s.ID == "" {
		return string(KindGlobal)
	}
	return string(s.Kind) + ":" + s.ID
}

// Uncapped is the Limit of a scope with no cap. Any negative Limit means the
// same.
const Uncapped int64 = -1

// Charge is one counter a reservation counts against: a scope in a period,
// with its cap (micro-USD) for that period in force when reserving. Limit <
// 0 (Uncapped) means no cap.
//
// Period is the budget period's id, which the caller computes: the
// calendar month in UTC "2026-11", the ISO week "2026-W48", or the day
// "2026-11-30". A store keys each counter by its scope and period, so a
// scope capped by several periods is charged once per period.
type Charge struct {
	Scope  Scope
	Period string
	Limit  int64
}

// Capped reports whether c has a cap.
func (c Charge) Capped() bool { return c.Limit >= 0 }

// Reservation is a hold of Amount micro-USD on every Charge's scope in the
// charge's period, until Expires.
//
// ID identifies the reservation across processes and retries (a random UUID
// is fine); Settle is idempotent by ID. Expires is the end of the lease:
// past it, Sweep may charge the hold as spent (estimated).
type Reservation struct {
	ID      string
	Charges []Charge
	Amount  int64
	Expires time.Time
}

// MaxCharges is the most charges one reservation may have (DynamoDB allows
// 100 items per transaction; a request is charged on at most three scopes
// in three periods each).
const MaxCharges = 32

// Validate reports whether r is well formed: a non-empty ID, an Amount >=
// 0, one to MaxCharges charges on distinct (scope, period) pairs, each
// scope of a known kind (the global scope with ID "") and each period
// non-empty without NUL or '#', and a non-zero Expires after 1970. Every
// Store calls it first; its errors wrap ErrInvalid.
func (r *Reservation) Validate() error {
	if err := r.validate(); err != nil {
		return err
	}
	if r.Expires.IsZero() || r.Expires.UnixNano() <= 0 {
		return fmt.Errorf("%w: reservation %s: bad expiry %v", ErrInvalid, r.ID, r.Expires)
	}
	return nil
}

// validate checks all but the expiry.
func (r *Reservation) validate() error {
	if r == nil {
		return fmt.Errorf("%w: nil reservation", ErrInvalid)
	}
	switch {
	case r.ID == "":
		return fmt.Errorf("%w: empty reservation id", ErrInvalid)
	case r.Amount < 0:
		return fmt.Errorf("%w: reservation %s: negative amount %d", ErrInvalid, r.ID, r.Amount)
	case len(r.Charges) == 0 || len(r.Charges) > MaxCharges:
		return fmt.Errorf("%w: reservation %s: %d charges, want 1 to %d", ErrInvalid, r.ID, len(r.Charges), MaxCharges)
	}
	for i, c := range r.Charges {
		if err := c.Scope.validate(); err != nil {
			return fmt.Errorf("%w: reservation %s: %v", ErrInvalid, r.ID, err)
		}
		if !ValidPeriod(c.Period) {
			return fmt.Errorf("%w: reservation %s: bad period %q", ErrInvalid, r.ID, c.Period)
		}
		for _, d := range r.Charges[:i] {
			if d.Scope == c.Scope && d.Period == c.Period {
				return fmt.Errorf("%w: reservation %s: scope %s charged twice in %s", ErrInvalid, r.ID, c.Scope, c.Period)
			}
		}
	}
	return nil
}

// ValidPeriod reports whether p may name a period: not empty, without NUL
// or '#' (the stores' key separators).
func ValidPeriod(p string) bool { return p != "" && !strings.ContainsAny(p, "\x00#") }

func (s Scope) validate() error {
	switch s.Kind {
	case KindGlobal:
		if s.ID != "" {
			return fmt.Errorf("global scope with id %q", s.ID)
		}
		return nil
	case KindKey, KindTeam:
		if s.ID == "" {
			return fmt.Errorf("%s scope without id", s.Kind)
		}
		return nil
	}
	return fmt.Errorf("unknown scope kind %q", s.Kind)
}

// Totals are a scope's settled and reserved micro-USD in a period (expired,
// unswept leases may still count as reserved).
//
// Estimated is the part of Spent charged by Sweep at the reserved amount of
// leases that expired unsettled: an upper bound of what those requests
// cost. A late Settle replaces it with the actual cost.
type Totals struct {
	Spent, Reserved, Estimated int64
}

// Committed is Spent + Reserved, what a cap is checked against.
func (t Totals) Committed() int64 { return t.Spent + t.Reserved }

// ExceededError reports that a capped scope cannot take the amount. It names
// the tightest failing charge (the one with the least room left, Limit -
// Spent - Reserved), its scope and period, with its totals when the
// reservation was refused.
type ExceededError struct {
	Scope                  Scope
	Period                 string
	Limit, Spent, Reserved int64
}

// Error implements error.
func (e *ExceededError) Error() string {
	return fmt.Sprintf("usage: budget of %s in %s exceeded: limit %d, spent %d, reserved %d micro-USD",
		e.Scope, e.Period, e.Limit, e.Spent, e.Reserved)
}

// ErrUnavailable wraps errors where the store could not be reached/used
// (network, disk, throttling, a closed store) — the caller fails closed on
// it.
var ErrUnavailable = errors.New("usage store unavailable")

// ErrDuplicate is returned by Reserve for an ID that is live or was settled
// within the store's settlement retention.
var ErrDuplicate = errors.New("usage: duplicate reservation id")

// ErrInvalid wraps errors about malformed arguments (see
// [Reservation.Validate]); they are the caller's bug.
var ErrInvalid = errors.New("usage: invalid argument")

// Store keeps budgets' totals and reservations. Implementations are safe for
// concurrent use.
type Store interface {
	// Reserve atomically adds r.Amount to every charged scope's reserved
	// total, provided every capped scope keeps Spent+Reserved+Amount <=
	// Limit; otherwise it changes nothing and returns *ExceededError.
	// Reserving an ID that exists already returns an error (ErrDuplicate).
	Reserve(ctx context.Context, r *Reservation) error
	// Settle ends reservation r: every scope's reserved total drops by
	// r.Amount and its spent total grows by actual (actual may exceed
	// r.Amount: that overshoot is allowed, it is the caller's estimation
	// error). Idempotent: a second Settle of the same ID changes nothing and
	// returns settled=false. If the lease already expired and Sweep charged
	// the reservation, Settle replaces that estimated charge with actual,
	// exactly once (settled=true); a reservation that was never made here
	// (no capped scope, or a store that was down at admission) is charged
	// actual, once.
	Settle(ctx context.Context, r *Reservation, actual int64) (settled bool, err error)
	// Totals returns the totals of the given scopes in period (zero Totals
	// for scopes never charged).
	Totals(ctx context.Context, period string, scopes []Scope) (map[Scope]Totals, error)
	// List returns every scope charged in period with its totals (for
	// `tollgate usage`).
	List(ctx context.Context, period string) (map[Scope]Totals, error)
	// Sweep charges every reservation whose lease expired before now at its
	// reserved amount: reserved drops, spent and estimated grow by Amount,
	// and the store remembers the reservation (for the settlement
	// retention) so that a late Settle can correct the charge. It returns
	// how many it charged.
	Sweep(ctx context.Context, now time.Time) (int, error)
	Close() error
}

// SettleRetention is how long a shared store (dynamo) remembers a settled
// reservation ID by default: a Settle retried later than this after the
// first may charge again, and the ID may be reserved again.
const SettleRetention = 7 * 24 * time.Hour

// LocalSettleRetention is the same for the single-process stores (memory,
// bolt). Their writes succeed or fail for certain within the call, and no
// other process settles, so a repeated Settle can only be the caller's
// retry after a failure (budget.Ticket retries until the lease ends, 15
// minutes by default). A week of IDs made a bolt file grow by about 400
// bytes a request (8 MiB per 21,000 requests) and the memory store hold
// them all. Swept reservations are remembered as long.
const LocalSettleRetention = time.Hour

// CheckSettle validates Settle's arguments: r as Validate does, but for
// Expires, which Settle does not need (a spend that was never reserved,
// e.g. of an uncapped key, is recorded by a Settle alone, with any Expires);
// its errors wrap ErrInvalid.
func CheckSettle(r *Reservation, actual int64) error {
	if err := r.validate(); err != nil {
		return err
	}
	if actual < 0 {
		return fmt.Errorf("%w: reservation %s: negative actual %d", ErrInvalid, r.ID, actual)
	}
	return nil
}

// Exceeded checks amount against every capped charge, given each charge's
// current totals (totals[i] belongs to charges[i]), and returns the
// *ExceededError of the tightest failing charge (the first of equals), or
// nil if all can take it.
// Backends that hold their totals in memory use it; it is exported so that
// every backend names the same scope.
func Exceeded(charges []Charge, totals []Totals, amount int64) *ExceededError {
	var worst *ExceededError
	var worstRoom int64
	for i, c := range charges {
		if !c.Capped() {
			continue
		}
		t := totals[i]
		room := c.Limit - t.Committed()
		if room >= amount {
			continue
		}
		if worst == nil || room < worstRoom {
			worst = &ExceededError{Scope: c.Scope, Period: c.Period, Limit: c.Limit, Spent: t.Spent, Reserved: t.Reserved}
			worstRoom = room
		}
	}
	return worst
}
