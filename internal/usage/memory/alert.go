package memory

import (
	"context"

	"github.com/tollgate-gw/tollgate/internal/usage"
)

var _ usage.Alerter = (*Store)(nil)

// MarkAlert implements [usage.Alerter.MarkAlert]. The marks are kept until
// the store is dropped (a few per capped scope and month).
func (s *Store) MarkAlert(ctx context.Context, a usage.Alert) (bool, error) {
	if err := a.Validate(); err != nil {
		return false, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return false, errClosed
	}
	if s.alerts == nil {
		s.alerts = map[usage.Alert]struct{}{}
	}
	if _, ok := s.alerts[a]; ok {
		return false, nil
	}
	s.alerts[a] = struct{}{}
	return true, nil
}
