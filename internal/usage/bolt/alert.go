package bolt

import (
	"context"

	bolt "go.etcd.io/bbolt"

	"github.com/tollgate-gw/tollgate/internal/usage"
)

var _ usage.Alerter = (*Store)(nil)

// MarkAlert implements [usage.Alerter.MarkAlert], in the alert bucket
// (created on first use, so older files need no migration). Marks are a few
// per capped scope and month, and are kept.
func (s *Store) MarkAlert(ctx context.Context, a usage.Alert) (bool, error) {
	if err := a.Validate(); err != nil {
		return false, err
	}
	k := []byte(a.Period + "\x00" + string(a.Scope.Kind) + "\x00" + a.Scope.ID + "\x00" + a.Threshold)
	var first bool
	err := s.update(ctx, func(tx *bolt.Tx) error {
		first = false // a group commit may run fn again
		b, err := tx.CreateBucketIfNotExists(bucketAlert)
		if err != nil {
			return err
		}
		if b.Get(k) != nil {
			return nil
		}
		first = true
		return b.Put(k, []byte{})
	})
	if err != nil {
		return false, err
	}
	return first, nil
}
