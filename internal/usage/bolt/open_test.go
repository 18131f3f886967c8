package bolt_test

import (
	"path/filepath"
	"strings"
	"testing"
	"time"

	bbolt "go.etcd.io/bbolt"

	"github.com/tollgate-gw/tollgate/internal/usage/bolt"
)

// txID is the id of the last transaction committed to the file at path.
func txID(t *testing.T, path string) int {
	t.Helper()
	db, err := bbolt.Open(path, 0o600, &bbolt.Options{Timeout: time.Second, ReadOnly: true})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	var id int
	if err := db.View(func(tx *bbolt.Tx) error { id = tx.ID(); return nil }); err != nil {
		t.Fatal(err)
	}
	return id
}

// TestOpenLaidOutWritesNothing: reopening a file that has its buckets
// commits nothing (a commit is two fdatasyncs on every start), and a file
// missing a bucket or of another layout is still handled.
func TestOpenLaidOutWritesNothing(t *testing.T) {
	path := filepath.Join(t.TempDir(), "usage.db")
	reopen := func() error {
		s, err := bolt.Open(path)
		if err != nil {
			return err
		}
		return s.Close()
	}
	if err := reopen(); err != nil {
		t.Fatal(err)
	}
	created := txID(t, path)
	if created == 0 {
		t.Fatal("creating the file committed nothing")
	}
	if err := reopen(); err != nil {
		t.Fatal(err)
	}
	if got := txID(t, path); got != created {
		t.Errorf("reopening committed: transaction id %d, want %d", got, created)
	}

	edit := func(fn func(*bbolt.Tx) error) {
		t.Helper()
		db, err := bbolt.Open(path, 0o600, &bbolt.Options{Timeout: time.Second})
		if err != nil {
			t.Fatal(err)
		}
		if err := db.Update(fn); err != nil {
			t.Fatal(err)
		}
		if err := db.Close(); err != nil {
			t.Fatal(err)
		}
	}
	edit(func(tx *bbolt.Tx) error { return tx.DeleteBucket([]byte("swept")) })
	if err := reopen(); err != nil {
		t.Fatal(err)
	}
	var has bool
	edit(func(tx *bbolt.Tx) error { has = tx.Bucket([]byte("swept")) != nil; return nil })
	if !has {
		t.Error("reopening did not recreate a missing bucket")
	}

	edit(func(tx *bbolt.Tx) error { return tx.Bucket([]byte("meta")).Put([]byte("version"), []byte("0")) })
	if err := reopen(); err == nil || !strings.Contains(err.Error(), "layout version") {
		t.Errorf("opening a file of another layout: %v, want a layout version error", err)
	}
}
