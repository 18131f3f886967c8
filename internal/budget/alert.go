package budget

import (
	"context"
	"strconv"
	"sync"
	"time"

	"github.com/tollgate-gw/tollgate/internal/policy"
	"github.com/tollgate-gw/tollgate/internal/usage"
)

// Alert is a budget reaching one of its alert thresholds (docs/budgets.md,
// "Alerts"). Amounts are micro-USD.
type Alert struct {
	Kind       usage.Kind
	ID         string // key or team id; "" for the global scope
	Period     string // the period's id: "2026-12", "2026-W49", "2026-12-02"
	PeriodKind PeriodKind
	Threshold  float64 // a fraction of Limit; 1 is the cap itself
	Spent      int64   // settled spend when the alert fired
	Limit      int64
	Time       time.Time
	// Refused: the threshold is 1 and a request was refused by this budget
	// before its settled spend reached it.
	Refused bool
}

// alertQueue bounds the alert checks waiting for the checker goroutine; a
// check that finds the queue full is dropped (the next settlement of the
// scope checks again).
const alertQueue = 1024

// alertScope is one capped (scope, period) of a ticket with its alert
// thresholds: a scope's thresholds apply to each of its periods' caps.
type alertScope struct {
	scope      usage.Scope
	period     string
	limit      int64
	thresholds []float64 // ascending, 1 included
}

// alertCheck asks the checker to compare scopes' settled spend with their
// thresholds; refused, when set, is the charge that refused a request.
type alertCheck struct {
	scopes  []alertScope
	refused *usage.ExceededError
}

// alerter checks thresholds off the request path, in one goroutine: it
// reads the scopes' totals, and calls Options.OnAlert for each threshold
// reached that the store (usage.Alerter) says fired first here.
type alerter struct {
	g      *Guard
	checks chan alertCheck
	done   chan struct{}

	mu     sync.Mutex
	closed bool

	// fired remembers the alerts this process saw fire (or saw marked by
	// another), for the current periods only (firedIn names them), so that
	// each is sent to the store at most once per process.
	fired   map[usage.Alert]bool
	firedIn [3]string
	marker  usage.Alerter // nil: the store keeps no marks; fired alone decides
}

func newAlerter(g *Guard) *alerter {
	a := &alerter{g: g, checks: make(chan alertCheck, alertQueue), done: make(chan struct{}), fired: map[usage.Alert]bool{}}
	a.marker, _ = g.store.(usage.Alerter)
	go a.run()
	return a
}

// alertScopes returns the capped scopes of charges that have alert
// thresholds under p; nil when none has, or alerts are off.
func (g *Guard) alertScopes(p *policy.Policy, k *policy.Key, cs []usage.Charge) []alertScope {
	if g.alerts == nil {
		return nil
	}
	key, team, global := p.Thresholds(k)
	var out []alertScope
	for _, c := range cs {
		var th []float64
		switch c.Scope.Kind {
		case usage.KindKey:
			th = key
		case usage.KindTeam:
			th = team
		case usage.KindGlobal:
			th = global
		}
		if len(th) > 0 && c.Limit > 0 {
			out = append(out, alertScope{scope: c.Scope, period: c.Period, limit: c.Limit, thresholds: th})
		}
	}
	return out
}

// check queues c without blocking.
func (a *alerter) check(c alertCheck) {
	if a == nil || len(c.scopes) == 0 {
		return
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.closed {
		return
	}
	select {
	case a.checks <- c:
	default:
	}
}

func (a *alerter) run() {
	defer close(a.done)
	for c := range a.checks {
		a.evaluate(c)
	}
}

// evaluate fires the alerts c's scopes reached.
func (a *alerter) evaluate(c alertCheck) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	now := a.g.opts.Now().UTC()
	if current := currentPeriods(now); a.firedIn != current {
		// Forget the alerts of the periods that ended; a check of an
		// ended period (a request settled after midnight) asks the store.
		for m := range a.fired {
			if m.Period != current[0] && m.Period != current[1] && m.Period != current[2] {
				delete(a.fired, m)
			}
		}
		a.firedIn = current
	}
	byPeriod := map[string][]usage.Scope{}
	for _, s := range c.scopes {
		byPeriod[s.period] = append(byPeriod[s.period], s.scope)
	}
	totals := map[string]map[usage.Scope]usage.Totals{}
	for per, scopes := range byPeriod {
		t, err := a.g.store.Totals(ctx, per, scopes)
		if err != nil {
			return // the next settlement checks again
		}
		totals[per] = t
	}
	for _, s := range c.scopes {
		spent := totals[s.period][s.scope].Spent
		refused := c.refused != nil && c.refused.Scope == s.scope && c.refused.Period == s.period
		for _, th := range s.thresholds {
			reached := float64(spent) >= th*float64(s.limit)
			if !reached && !(refused && th == 1) {
				continue
			}
			m := usage.Alert{Period: s.period, Scope: s.scope, Threshold: strconv.FormatFloat(th, 'f', -1, 64)}
			if a.fired[m] {
				continue
			}
			if a.marker != nil {
				first, err := a.marker.MarkAlert(ctx, m)
				if err != nil {
					continue // not marked: tried again at the next check
				}
				a.fired[m] = true
				if !first {
					continue // fired by another process
				}
			}
			a.fired[m] = true
			a.g.opts.OnAlert(Alert{Kind: s.scope.Kind, ID: s.scope.ID, Period: s.period, PeriodKind: kindOf(s.period), Threshold: th,
				Spent: spent, Limit: s.limit, Time: now, Refused: !reached})
		}
	}
}

// currentPeriods are the ids of the periods that hold now, longest first.
func currentPeriods(now time.Time) [3]string {
	return [3]string{PeriodID(Monthly, now), PeriodID(Weekly, now), PeriodID(Daily, now)}
}

// flush stops taking checks and waits, until ctx ends, for the queued
// ones.
func (a *alerter) flush(ctx context.Context) error {
	if a == nil {
		return nil
	}
	a.mu.Lock()
	if !a.closed {
		a.closed = true
		close(a.checks)
	}
	a.mu.Unlock()
	select {
	case <-a.done:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}
