// Package bolt is a usage.Store in one bbolt file: durable across restarts
// of a single gateway process (bbolt locks the file: one process at a time).
// The layout of the file is in docs/store.md.
package bolt

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"os"
	"sync"
	"sync/atomic"
	"time"

	bolt "go.etcd.io/bbolt"
	bolterrors "go.etcd.io/bbolt/errors"

	"github.com/tollgate-gw/tollgate/internal/usage"
	"github.com/tollgate-gw/tollgate/internal/usage/memory"
)

var (
	_ usage.Store   = (*Store)(nil)
	_ usage.Limiter = (*Store)(nil)
)

// Bucket names; docs/store.md describes their keys and values.
var (
	bucketRes     = []byte("res")    // id → reservation
	bucketExp     = []byte("exp")    // expires (8) + id → nothing: live leases by expiry
	bucketTot     = []byte("tot")    // period 0 kind 0 id → spent (8) reserved (8)
	bucketSet     = []byte("set")    // id → forget-after (8): settled IDs
	bucketSwept   = []byte("swept")  // id → forget-after (8) + reservation: charged by a sweep, not settled since
	bucketSetExp  = []byte("setexp") // forget-after (8) + id → nothing: when to forget set and swept IDs
	bucketMeta    = []byte("meta")   // "version" → "1"
	bucketAlert   = []byte("alert")  // period 0 kind 0 id 0 threshold → nothing: alerts fired (alert.go)
	schemaVersion = []byte("1")
)

// Store is a usage.Store in a bbolt file. Writes from concurrent callers are
// grouped into one transaction and one fsync (group commit: while one
// transaction commits, the next collects every write that arrives; under
// load the committer also waits a little for more, see busyBatch), so a
// write is durable when Reserve or Settle returns. Reserve first charges
// the leases that expired (by the injected clock).
type Store struct {
	// Limiter keeps the rate-limit windows in memory: a bolt file serves
	// one process, and a restart forgets at most a minute of requests.
	memory.Limiter

	db        *bolt.DB
	now       func() time.Time
	retention time.Duration
	readOnly  bool // OpenReadOnly: no committer, writes fail

	writes    chan *write
	stop      chan struct{} // closed by Close
	done      chan struct{} // closed when the committer has stopped
	closeOnce sync.Once
	closeErr  error
	commits   atomic.Int64 // group commits so far (for tests)
}

// write is one caller's part of a group commit.
type write struct {
	fn  func(*bolt.Tx) error // may run more than once: it resets its results
	err chan error           // buffered, gets the outcome
}

// maxBatch bounds a group commit, so one transaction stays small.
const maxBatch = 512

// Option configures a Store.
type Option func(*Store)

// WithClock makes the Store read the time from now (for Reserve's inline
// sweep and the settlement retention). The default is time.Now.
func WithClock(now func() time.Time) Option { return func(s *Store) { s.now = now } }

// WithRetention sets how long a settled ID is remembered (default
// usage.LocalSettleRetention).
func WithRetention(d time.Duration) Option { return func(s *Store) { s.retention = d } }

// Open opens (creating it if needed) the store in the bbolt file at path. It
// fails if another process holds the file for more than a second.
func Open(path string, opts ...Option) (*Store, error) {
	s := &Store{
		now:       time.Now,
		retention: usage.LocalSettleRetention,
		writes:    make(chan *write),
		stop:      make(chan struct{}),
		done:      make(chan struct{}),
	}
	for _, o := range opts {
		o(s)
	}
	db, err := openDB(path, false)
	if err != nil {
		return nil, err
	}
	// A file laid out already needs no write: a read-write transaction
	// always commits (two fdatasyncs, a few milliseconds of every start).
	var ready bool
	err = db.View(func(tx *bolt.Tx) error {
		ready, err = laidOut(tx, path)
		return err
	})
	if err == nil && !ready {
		err = db.Update(layOut(path))
	}
	if err != nil {
		db.Close()
		return nil, err
	}
	s.db = db
	go s.commitLoop()
	return s, nil
}

// buckets are the buckets besides meta that Open creates.
var buckets = [][]byte{bucketRes, bucketExp, bucketTot, bucketSet, bucketSwept, bucketSetExp}

// laidOut reports whether the file has every bucket and the version, and
// fails if its version is another.
func laidOut(tx *bolt.Tx, path string) (bool, error) {
	meta := tx.Bucket(bucketMeta)
	if meta == nil {
		return false, nil
	}
	v := meta.Get([]byte("version"))
	if v == nil {
		return false, nil
	}
	if !bytes.Equal(v, schemaVersion) {
		return false, fmt.Errorf("usage/bolt: %s has layout version %q, want %q", path, v, schemaVersion)
	}
	for _, b := range buckets {
		if tx.Bucket(b) == nil {
			return false, nil
		}
	}
	return true, nil
}

// layOut creates the buckets and the version that are missing.
func layOut(path string) func(*bolt.Tx) error {
	return func(tx *bolt.Tx) error {
		meta, err := tx.CreateBucketIfNotExists(bucketMeta)
		if err != nil {
			return err
		}
		switch v := meta.Get([]byte("version")); {
		case v == nil:
			if err := meta.Put([]byte("version"), schemaVersion); err != nil {
				return err
			}
		case !bytes.Equal(v, schemaVersion):
			return fmt.Errorf("usage/bolt: %s has layout version %q, want %q", path, v, schemaVersion)
		}
		for _, b := range buckets {
			if _, err := tx.CreateBucketIfNotExists(b); err != nil {
				return err
			}
		}
		return nil
	}
}

// ErrLocked is the error of Open and OpenReadOnly when another process holds
// the file: bbolt lets one process at a time write it (a gateway holds it
// while it runs), and readers only while no process writes.
var ErrLocked = errors.New("locked by another process")

// openDB opens the bbolt file, waiting a second for another process's lock.
func openDB(path string, readOnly bool) (*bolt.DB, error) {
	db, err := bolt.Open(path, 0o600, &bolt.Options{Timeout: time.Second, ReadOnly: readOnly})
	switch {
	case errors.Is(err, bolterrors.ErrTimeout):
		return nil, fmt.Errorf("usage/bolt: %s is %w: %w", path, ErrLocked, usage.ErrUnavailable)
	case err != nil:
		return nil, fmt.Errorf("usage/bolt: open %s: %w: %w", path, usage.ErrUnavailable, err)
	}
	return db, nil
}

// OpenReadOnly opens the existing store at path for Totals and List only,
// for reports beside a store no process writes: its other methods fail. It
// creates nothing; a missing file is an error wrapping fs.ErrNotExist.
func OpenReadOnly(path string) (*Store, error) {
	if _, err := os.Stat(path); err != nil {
		return nil, fmt.Errorf("usage/bolt: %w", err)
	}
	db, err := openDB(path, true)
	if err != nil {
		return nil, err
	}
	err = db.View(func(tx *bolt.Tx) error {
		meta := tx.Bucket(bucketMeta)
		if meta == nil || tx.Bucket(bucketTot) == nil {
			return fmt.Errorf("usage/bolt: %s is not a usage store", path)
		}
		if v := meta.Get([]byte("version")); !bytes.Equal(v, schemaVersion) {
			return fmt.Errorf("usage/bolt: %s has layout version %q, want %q", path, v, schemaVersion)
		}
		return nil
	})
	if err != nil {
		db.Close()
		return nil, err
	}
	s := &Store{db: db, now: time.Now, readOnly: true, stop: make(chan struct{}), done: make(chan struct{})}
	close(s.done) // no committer
	return s, nil
}

var errReadOnly = errors.New("usage/bolt: the store was opened read-only")

var errClosed = fmt.Errorf("usage/bolt: %w: store closed", usage.ErrUnavailable)

// update runs fn in a read-write transaction shared with other callers'
// and returns once it is committed (or failed). Once handed over, fn is
// committed or failed even if ctx ends meanwhile: update waits to say which.
func (s *Store) update(ctx context.Context, fn func(*bolt.Tx) error) error {
	if s.readOnly {
		return errReadOnly
	}
	w := &write{fn: fn, err: make(chan error, 1)}
	select {
	case s.writes <- w:
	case <-s.stop:
		return errClosed
	case <-ctx.Done():
		return ctx.Err()
	}
	return unavailable(<-w.err)
}

// commitLoop commits the writes in groups until Close.
func (s *Store) commitLoop() {
	defer close(s.done)
	batch := make([]*write, 0, maxBatch)
	timer := time.NewTimer(time.Hour)
	timer.Stop()
	var last time.Time // when the previous commit started
	busy := false      // the previous group was large: writers are arriving fast
	for {
		select {
		case w := <-s.writes:
			batch = append(batch[:0], w)
		case <-s.stop:
			return
		}
	collect:
		for len(batch) < maxBatch {
			select {
			case w := <-s.writes:
				batch = append(batch, w)
			default:
				break collect
			}
		}
		if busy {
			batch = s.gather(batch, timer, last)
		}
		last = time.Now()
		s.commits.Add(1)
		s.commit(batch)
		if commitHook != nil {
			commitHook()
		}
		busy = len(batch) >= busyBatch
	}
}

// Pacing under load. A commit costs about the same however many writes it
// holds (two fdatasyncs: some 400 µs of CPU on the development machine), so
// when the previous group held busyBatch writes or more the committer waits
// for more before committing: until pace has passed since the previous
// commit started, until the batch is full, or until no write has come for
// gapFactor times the mean interval between the writes gathered so far
// (clamped to [minGap, maxGap]; writers that all wait on the store, as in a
// closed loop, are then committed without waiting out the pace). A writer
// alone (the previous group smaller than busyBatch) never waits.
const (
	busyBatch = 8
	pace      = 20 * time.Millisecond
	minGap    = 250 * time.Microsecond
	maxGap    = 4 * time.Millisecond
	gapFactor = 8
)

// commitHook, when set by a test, runs after each commit (a slow disk).
var commitHook func()

// gather adds writes to batch while pacing allows (see busyBatch).
func (s *Store) gather(batch []*write, timer *time.Timer, last time.Time) []*write {
	deadline := last.Add(pace)
	start, n0 := time.Now(), len(batch)
	for len(batch) < maxBatch {
		now := time.Now()
		wait := deadline.Sub(now)
		if wait <= 0 {
			break
		}
		gap := maxGap
		if k := len(batch) - n0; k > 0 {
			gap = min(max(gapFactor*now.Sub(start)/time.Duration(k), minGap), maxGap)
		}
		timer.Reset(min(wait, gap))
		select {
		case w := <-s.writes:
			timer.Stop()
			batch = append(batch, w)
		case <-timer.C:
			return batch
		case <-s.stop:
			timer.Stop()
			return batch
		}
	}
	return batch
}

// commit runs batch in one transaction. A function that fails fails alone:
// it is answered from a transaction of its own and the others run again
// without it.
func (s *Store) commit(batch []*write) {
	for len(batch) > 0 {
		failed := -1
		err := s.db.Update(func(tx *bolt.Tx) error {
			appendOnly(tx)
			for i, w := range batch {
				if err := w.fn(tx); err != nil {
					failed = i
					return err
				}
			}
			return nil
		})
		if failed < 0 {
			for _, w := range batch {
				w.err <- err
			}
			return
		}
		w := batch[failed]
		w.err <- s.db.Update(func(tx *bolt.Tx) error { appendOnly(tx); return w.fn(tx) })
		batch = append(batch[:failed], batch[failed+1:]...)
	}
}

// appendOnly fills the pages of the buckets whose keys grow with time (exp
// and setexp by construction, set because the gateway's request ids are
// time-ordered) before splitting them. bbolt's default, half full, suits
// random inserts; on appends it leaves every page half empty.
func appendOnly(tx *bolt.Tx) {
	for _, name := range [][]byte{bucketExp, bucketSet, bucketSetExp} {
		tx.Bucket(name).FillPercent = 0.95
	}
}

// unavailable wraps a bbolt error (disk, closed database) in
// usage.ErrUnavailable.
func unavailable(err error) error {
	if err == nil {
		return nil
	}
	return fmt.Errorf("usage/bolt: %w: %w", usage.ErrUnavailable, err)
}

// Reserve implements [usage.Store.Reserve].
func (s *Store) Reserve(ctx context.Context, r *usage.Reservation) error {
	if err := r.Validate(); err != nil {
		return err
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	now := s.now()
	after := now.Add(s.retention)
	val := encodeReservation(r)
	var refused error
	// The function may run more than once (when another in its group
	// fails), so it sets refused afresh; it never returns a refusal as an
	// error: a refused Reserve writes nothing but the sweep, which may
	// commit either way.
	err := s.update(ctx, func(tx *bolt.Tx) error {
		refused = nil
		if _, err := sweep(tx, now, after); err != nil {
			return err
		}
		res := tx.Bucket(bucketRes)
		if res.Get([]byte(r.ID)) != nil {
			refused = fmt.Errorf("%w: %s", usage.ErrDuplicate, r.ID)
			return nil
		}
		if tx.Bucket(bucketSet).Get([]byte(r.ID)) != nil {
			refused = fmt.Errorf("%w: %s (settled)", usage.ErrDuplicate, r.ID)
			return nil
		}
		if tx.Bucket(bucketSwept).Get([]byte(r.ID)) != nil {
			refused = fmt.Errorf("%w: %s (expired)", usage.ErrDuplicate, r.ID)
			return nil
		}
		tot := tx.Bucket(bucketTot)
		var kbuf [4][]byte
		var tbuf [4]usage.Totals
		keys, ts := kbuf[:0], tbuf[:0]
		for _, c := range r.Charges {
			k := totKey(c.Period, c.Scope)
			keys = append(keys, k)
			ts = append(ts, decodeTotals(tot.Get(k)))
		}
		if e := usage.Exceeded(r.Charges, ts, r.Amount); e != nil {
			refused = e
			return nil
		}
		for i, k := range keys {
			t := ts[i]
			t.Reserved += r.Amount
			if err := tot.Put(k, encodeTotals(t)); err != nil {
				return err
			}
		}
		if err := res.Put([]byte(r.ID), val); err != nil {
			return err
		}
		return tx.Bucket(bucketExp).Put(expKey(r.Expires, r.ID), nil)
	})
	if err != nil {
		return err
	}
	return refused
}

// Settle implements [usage.Store.Settle].
func (s *Store) Settle(ctx context.Context, r *usage.Reservation, actual int64) (bool, error) {
	if err := usage.CheckSettle(r, actual); err != nil {
		return false, err
	}
	if err := ctx.Err(); err != nil {
		return false, err
	}
	now := s.now()
	after := now.Add(s.retention)
	var settled bool
	err := s.update(ctx, func(tx *bolt.Tx) error {
		settled = false
		if err := forgetSettled(tx, now); err != nil {
			return err
		}
		set := tx.Bucket(bucketSet)
		if set.Get([]byte(r.ID)) != nil {
			return nil
		}
		amount, charges := int64(0), r.Charges
		estimated := int64(0) // the sweep's charge that actual replaces
		res, sw := tx.Bucket(bucketRes), tx.Bucket(bucketSwept)
		if v := res.Get([]byte(r.ID)); v != nil {
			// The stored reservation is authoritative: it is what was held.
			stored, err := decodeReservation(r.ID, v)
			if err != nil {
				return err
			}
			amount, charges = stored.Amount, stored.Charges
			if err := res.Delete([]byte(r.ID)); err != nil {
				return err
			}
			if err := tx.Bucket(bucketExp).Delete(expKey(stored.Expires, r.ID)); err != nil {
				return err
			}
		} else if v := sw.Get([]byte(r.ID)); len(v) > 8 {
			// Charged at its amount by a sweep: replace the estimate.
			stored, err := decodeReservation(r.ID, v[8:])
			if err != nil {
				return err
			}
			estimated, charges = stored.Amount, stored.Charges
			if err := sw.Delete([]byte(r.ID)); err != nil {
				return err
			}
		} // else never reserved here: charge what was spent, once.
		tot := tx.Bucket(bucketTot)
		for _, c := range charges {
			k := totKey(c.Period, c.Scope)
			t := decodeTotals(tot.Get(k))
			t.Reserved -= amount
			t.Spent += actual - estimated
			t.Estimated -= estimated
			if err := tot.Put(k, encodeTotals(t)); err != nil {
				return err
			}
		}
		var a [8]byte
		binary.BigEndian.PutUint64(a[:], uint64(after.UnixNano()))
		if err := set.Put([]byte(r.ID), a[:]); err != nil {
			return err
		}
		if err := tx.Bucket(bucketSetExp).Put(expKey(after, r.ID), nil); err != nil {
			return err
		}
		settled = true
		return nil
	})
	if err != nil {
		return false, err
	}
	return settled, nil
}

// Totals implements [usage.Store.Totals].
func (s *Store) Totals(ctx context.Context, period string, scopes []usage.Scope) (map[usage.Scope]usage.Totals, error) {
	out := make(map[usage.Scope]usage.Totals, len(scopes))
	err := s.db.View(func(tx *bolt.Tx) error {
		tot := tx.Bucket(bucketTot)
		for _, sc := range scopes {
			out[sc] = decodeTotals(tot.Get(totKey(period, sc)))
		}
		return nil
	})
	if err != nil {
		return nil, unavailable(err)
	}
	return out, nil
}

// List implements [usage.Store.List].
func (s *Store) List(ctx context.Context, period string) (map[usage.Scope]usage.Totals, error) {
	out := make(map[usage.Scope]usage.Totals)
	prefix := append([]byte(period), 0)
	err := s.db.View(func(tx *bolt.Tx) error {
		c := tx.Bucket(bucketTot).Cursor()
		for k, v := c.Seek(prefix); k != nil && bytes.HasPrefix(k, prefix); k, v = c.Next() {
			kind, id, ok := bytes.Cut(k[len(prefix):], []byte{0})
			if !ok {
				return fmt.Errorf("usage/bolt: bad totals key %q", k)
			}
			out[usage.Scope{Kind: usage.Kind(kind), ID: string(id)}] = decodeTotals(v)
		}
		return nil
	})
	if err != nil {
		return nil, unavailable(err)
	}
	return out, nil
}

// Sweep implements [usage.Store.Sweep]. It also forgets settled IDs older
// than the retention.
func (s *Store) Sweep(ctx context.Context, now time.Time) (int, error) {
	if err := ctx.Err(); err != nil {
		return 0, err
	}
	var n int
	after := now.Add(s.retention)
	err := s.update(ctx, func(tx *bolt.Tx) error {
		var err error
		if n, err = sweep(tx, now, after); err != nil {
			return err
		}
		return forgetSettled(tx, now)
	})
	if err != nil {
		return 0, err
	}
	return n, nil
}

// sweep charges the leases that expired before now at their amount,
// soonest first, and keeps them in the swept bucket until after, for a late
// settlement to correct.
func sweep(tx *bolt.Tx, now, after time.Time) (int, error) {
	exp := tx.Bucket(bucketExp)
	c := exp.Cursor()
	res, tot, sw := tx.Bucket(bucketRes), tx.Bucket(bucketTot), tx.Bucket(bucketSwept)
	limit := uint64(now.UnixNano())
	n := 0
	for k, _ := c.First(); k != nil && binary.BigEndian.Uint64(k) < limit; k, _ = c.First() {
		id := k[8:]
		if v := res.Get(id); v != nil {
			r, err := decodeReservation(string(id), v)
			if err != nil {
				return n, err
			}
			for _, ch := range r.Charges {
				tk := totKey(ch.Period, ch.Scope)
				t := decodeTotals(tot.Get(tk))
				t.Reserved -= r.Amount
				t.Spent += r.Amount
				t.Estimated += r.Amount
				if err := tot.Put(tk, encodeTotals(t)); err != nil {
					return n, err
				}
			}
			fk := expKey(after, string(id))
			if err := sw.Put(id, append(fk[:8:8], v...)); err != nil {
				return n, err
			}
			if err := tx.Bucket(bucketSetExp).Put(fk, nil); err != nil {
				return n, err
			}
			if err := res.Delete(id); err != nil {
				return n, err
			}
			n++
		}
		if err := exp.Delete(k); err != nil {
			return n, err
		}
	}
	return n, nil
}

// forgetSettled drops the settled and swept IDs whose retention ended
// before now. An ID swept and then settled has two entries in setexp: each
// forgets only the record whose forget-after it carries.
func forgetSettled(tx *bolt.Tx, now time.Time) error {
	setexp := tx.Bucket(bucketSetExp)
	c := setexp.Cursor()
	limit := uint64(now.UnixNano())
	for k, _ := c.First(); k != nil && binary.BigEndian.Uint64(k) < limit; k, _ = c.First() {
		id := k[8:]
		for _, b := range []*bolt.Bucket{tx.Bucket(bucketSet), tx.Bucket(bucketSwept)} {
			if v := b.Get(id); len(v) >= 8 && bytes.Equal(v[:8], k[:8]) {
				if err := b.Delete(id); err != nil {
					return err
				}
			}
		}
		if err := setexp.Delete(k); err != nil {
			return err
		}
	}
	return nil
}

// Close implements [usage.Store.Close]: it waits for the commit in
// progress, stops the committer and closes the file. Later calls fail with
// an error wrapping usage.ErrUnavailable.
func (s *Store) Close() error {
	s.closeOnce.Do(func() {
		close(s.stop)
		<-s.done
		s.closeErr = s.db.Close()
	})
	return s.closeErr
}

// totKey is the key of scope's totals in period: period 0 kind 0 id.
// Validate keeps NUL out of periods; kinds are constants.
func totKey(period string, sc usage.Scope) []byte {
	k := make([]byte, 0, len(period)+len(sc.Kind)+len(sc.ID)+2)
	k = append(k, period...)
	k = append(k, 0)
	k = append(k, sc.Kind...)
	k = append(k, 0)
	return append(k, sc.ID...)
}

// expKey is t (unix ns, big-endian, so keys sort by time) followed by id.
func expKey(t time.Time, id string) []byte {
	k := make([]byte, 8, 8+len(id))
	binary.BigEndian.PutUint64(k, uint64(t.UnixNano()))
	return append(k, id...)
}

// encodeTotals writes spent, reserved and estimated, 8 bytes each. Files
// written before estimated existed hold 16 bytes: estimated 0.
func encodeTotals(t usage.Totals) []byte {
	v := make([]byte, 24)
	binary.BigEndian.PutUint64(v, uint64(t.Spent))
	binary.BigEndian.PutUint64(v[8:], uint64(t.Reserved))
	binary.BigEndian.PutUint64(v[16:], uint64(t.Estimated))
	return v
}

func decodeTotals(v []byte) usage.Totals {
	if len(v) < 16 {
		return usage.Totals{}
	}
	t := usage.Totals{Spent: int64(binary.BigEndian.Uint64(v)), Reserved: int64(binary.BigEndian.Uint64(v[8:]))}
	if len(v) >= 24 {
		t.Estimated = int64(binary.BigEndian.Uint64(v[16:]))
	}
	return t
}

// encodeReservation encodes r but its ID (the key) and limits (only
// Reserve needs them): version 2, expires (unix ns, 8 bytes), amount
// (varint), then the number of charges and each charge's kind, id and
// period, strings as uvarint length + bytes. Version 1, written before
// charges had periods of their own, held one period after the amount for
// every charge; decodeReservation reads both.
func encodeReservation(r *usage.Reservation) []byte {
	v := make([]byte, 0, 32+len(r.Charges)*32)
	v = append(v, 2)
	v = binary.BigEndian.AppendUint64(v, uint64(r.Expires.UnixNano()))
	v = binary.AppendVarint(v, r.Amount)
	v = binary.AppendUvarint(v, uint64(len(r.Charges)))
	for _, c := range r.Charges {
		v = appendString(v, string(c.Scope.Kind))
		v = appendString(v, c.Scope.ID)
		v = appendString(v, c.Period)
	}
	return v
}

func appendString(v []byte, s string) []byte {
	return append(binary.AppendUvarint(v, uint64(len(s))), s...)
}

var errCorrupt = errors.New("usage/bolt: corrupt reservation")

func decodeReservation(id string, v []byte) (*usage.Reservation, error) {
	if len(v) < 9 || (v[0] != 1 && v[0] != 2) {
		return nil, fmt.Errorf("%w %s", errCorrupt, id)
	}
	version := v[0]
	r := &usage.Reservation{ID: id, Expires: time.Unix(0, int64(binary.BigEndian.Uint64(v[1:])))}
	d := decoder{v: v[9:]}
	r.Amount = d.varint()
	var period string // version 1: every charge's
	if version == 1 {
		period = d.string()
	}
	n := d.uvarint()
	if d.bad || n > usage.MaxCharges {
		return nil, fmt.Errorf("%w %s", errCorrupt, id)
	}
	r.Charges = make([]usage.Charge, n)
	for i := range r.Charges {
		r.Charges[i].Scope = usage.Scope{Kind: usage.Kind(d.string()), ID: d.string()}
		r.Charges[i].Period = period
		if version == 2 {
			r.Charges[i].Period = d.string()
		}
	}
	if d.bad {
		return nil, fmt.Errorf("%w %s", errCorrupt, id)
	}
	return r, nil
}

type decoder struct {
	v   []byte
	bad bool
}

func (d *decoder) varint() int64 {
	x, n := binary.Varint(d.v)
	if n <= 0 {
		d.bad = true
		return 0
	}
	d.v = d.v[n:]
	return x
}

func (d *decoder) uvarint() uint64 {
	x, n := binary.Uvarint(d.v)
	if n <= 0 {
		d.bad = true
		return 0
	}
	d.v = d.v[n:]
	return x
}

func (d *decoder) string() string {
	n := d.uvarint()
	if d.bad || n > uint64(len(d.v)) {
		d.bad = true
		return ""
	}
	s := string(d.v[:n])
	d.v = d.v[n:]
	return s
}
