package usage

import (
	"context"
	"fmt"
	"strings"
)

// Alert names one budget alert: a scope crossing a threshold of its cap in a
// period. Threshold is the fraction as the policy wrote it, formatted
// ("0.5", "0.8", "1").
type Alert struct {
	Period    string
	Scope     Scope
	Threshold string
}

// Validate reports whether a is well formed; its errors wrap ErrInvalid.
func (a Alert) Validate() error {
	switch {
	case !ValidPeriod(a.Period):
		return fmt.Errorf("%w: alert: bad period %q", ErrInvalid, a.Period)
	case a.Threshold == "" || strings.ContainsAny(a.Threshold, "\x00#"):
		return fmt.Errorf("%w: alert: bad threshold %q", ErrInvalid, a.Threshold)
	}
	if err := a.Scope.validate(); err != nil {
		return fmt.Errorf("%w: alert: %v", ErrInvalid, err)
	}
	return nil
}

// Alerter is implemented by the stores that record which budget alerts
// fired, so that each fires once per scope, threshold and period however
// many gateway processes share the store. It is separate from Store: a
// store without it leaves the guard to remember alerts in memory.
type Alerter interface {
	// MarkAlert records that a fired, atomically: it returns first=true to
	// exactly one caller across every process sharing the store, false to
	// the others. It neither reads nor writes budget totals.
	MarkAlert(ctx context.Context, a Alert) (first bool, err error)
}
