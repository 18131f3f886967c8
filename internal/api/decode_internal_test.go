package api

import (
	"bytes"
	"strings"
	"testing"
	"testing/iotest"
)

func TestIsJSONType(t *testing.T) {
	for ct, want := range map[string]bool{
		"application/json":                  true,
		"application/json; charset=utf-8":   true,
		"application/json;charset=utf-8":    true,
		"Application/JSON":                  true,
		"application/json; charset=latin1":  true,
		"application/vnd.api+json":          true,
		"application/merge-patch+json; q=1": true,
		"":                                  false,
		"text/plain":                        false,
		"application/jsonx":                 false,
		"application/json; charset":         false, // not a valid media type
		"+json":                             false,
	} {
		if got := isJSONType(ct); got != want {
			t.Errorf("isJSONType(%q) = %v, want %v", ct, got, want)
		}
	}
}

// TestReadAll: whatever length the client declared, readAll returns exactly
// the bytes of the body, as io.ReadAll does.
func TestReadAll(t *testing.T) {
	body := []byte(strings.Repeat(`{"k":"v"}`, 100))
	for _, declared := range []int64{-1, 0, 1, 899, 900, 901, 5000, maxPresize + 1} {
		got, err := readAll(bytes.NewReader(body), declared)
		if err != nil || !bytes.Equal(got, body) {
			t.Errorf("declared %d: got %d bytes, %v; want %d bytes", declared, len(got), err, len(body))
		}
		got, err = readAll(iotest.OneByteReader(bytes.NewReader(body)), declared)
		if err != nil || !bytes.Equal(got, body) {
			t.Errorf("one byte at a time, declared %d: got %d bytes, %v", declared, len(got), err)
		}
	}
	if _, err := readAll(iotest.ErrReader(iotest.ErrTimeout), 10); err != iotest.ErrTimeout {
		t.Errorf("a failing reader: error %v, want %v", err, iotest.ErrTimeout)
	}
}
