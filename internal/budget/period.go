package budget

import (
	"fmt"
	"strings"
	"time"

	"github.com/tollgate-gw/tollgate/internal/policy"
	"github.com/tollgate-gw/tollgate/internal/usage"
)

// PeriodKind is the length of a budget period. Every period is in UTC.
type PeriodKind string

// The budget periods (docs/budgets.md, "Periods").
const (
	// Monthly: the calendar month, id "2026-12".
	Monthly PeriodKind = "monthly"
	// Weekly: Monday 00:00 to the next Monday, id the ISO 8601 week
	// "2026-W49" (its year is the ISO week-numbering year: the year of the
	// week's Thursday, so 2026-12-31, a Thursday, is in "2026-W53" and
	// 2027-01-01 too).
	Weekly PeriodKind = "weekly"
	// Daily: 00:00 to the next 00:00, id "2026-12-02".
	Daily PeriodKind = "daily"
)

// PeriodKinds are the kinds, longest first: the order in which charges
// and statuses list them.
var PeriodKinds = []PeriodKind{Monthly, Weekly, Daily}

// PeriodID returns the id of the period of kind that holds t.
func PeriodID(kind PeriodKind, t time.Time) string {
	t = t.UTC()
	switch kind {
	case Daily:
		return t.Format(time.DateOnly)
	case Weekly:
		y, w := t.ISOWeek()
		return fmt.Sprintf("%04d-W%02d", y, w)
	}
	return t.Format("2006-01")
}

// PeriodEnd returns when the period of kind that holds t ends, the first
// instant of the next one.
func PeriodEnd(kind PeriodKind, t time.Time) time.Time {
	t = t.UTC()
	day := time.Date(t.Year(), t.Month(), t.Day(), 0, 0, 0, 0, time.UTC)
	switch kind {
	case Daily:
		return day.AddDate(0, 0, 1)
	case Weekly:
		sinceMonday := (int(t.Weekday()) + 6) % 7
		return day.AddDate(0, 0, 7-sinceMonday)
	}
	return time.Date(t.Year(), t.Month()+1, 1, 0, 0, 0, 0, time.UTC)
}

// kindOf returns the kind of a period id PeriodID made.
func kindOf(period string) PeriodKind {
	switch {
	case strings.Contains(period, "W"):
		return Weekly
	case len(period) == len(time.DateOnly):
		return Daily
	}
	return Monthly
}

// limit returns l's cap of kind.
func limit(l policy.Limits, kind PeriodKind) int64 {
	switch kind {
	case Daily:
		return l.Daily
	case Weekly:
		return l.Weekly
	}
	return l.Monthly
}

// Period returns the monthly budget period of t, "2026-11".
func Period(t time.Time) string { return PeriodID(Monthly, t) }

// NextPeriod returns when the monthly period of t ends: the first instant
// of the next calendar month, UTC.
func NextPeriod(t time.Time) time.Time { return PeriodEnd(Monthly, t) }

// charges are the counters a request of keyID at now writes: its key's
// month always (the record of what each key spent), and every other
// period of the key, its team and the gateway only when it has a cap.
// Every request writing the global counter made it one hot item for the
// whole gateway; an uncapped team's or the gateway's spend is the sum of
// its keys' (Status, Overview). The key's month comes first: the DynamoDB
// store keeps the first charge's period on its items, as it did when every
// charge was monthly.
func charges(keyID string, caps policy.Caps, now time.Time) []usage.Charge {
	cs := make([]usage.Charge, 0, 3)
	add := func(sc usage.Scope, l policy.Limits, always bool) {
		for _, kind := range PeriodKinds {
			lim := limit(l, kind)
			if lim != usage.Uncapped || (always && kind == Monthly) {
				cs = append(cs, usage.Charge{Scope: sc, Period: PeriodID(kind, now), Limit: lim})
			}
		}
	}
	add(usage.Scope{Kind: usage.KindKey, ID: keyID}, caps.Key, true)
	if caps.TeamID != "" {
		add(usage.Scope{Kind: usage.KindTeam, ID: caps.TeamID}, caps.Team, false)
	}
	add(usage.Global, caps.Global, false)
	return cs
}
