package logsink_test

import (
	"bytes"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/tollgate-gw/tollgate/internal/logsink"
)

// dest records what reaches it, one entry per write, optionally slowly.
type dest struct {
	mu     sync.Mutex
	writes [][]byte
	delay  time.Duration
	gate   chan struct{} // if set, each write waits for it
	inside chan struct{} // if set, receives when a write starts
	err    error
}

func (d *dest) Write(p []byte) (int, error) {
	if d.inside != nil {
		d.inside <- struct{}{}
	}
	if d.gate != nil {
		<-d.gate
	}
	time.Sleep(d.delay)
	d.mu.Lock()
	defer d.mu.Unlock()
	d.writes = append(d.writes, append([]byte(nil), p...))
	return len(p), d.err
}

func (d *dest) all() []byte {
	d.mu.Lock()
	defer d.mu.Unlock()
	return bytes.Join(d.writes, nil)
}

// TestConcurrentLines: lines written by many goroutines all arrive once,
// whole, each goroutine's in its order, in fewer writes than lines when the
// destination is slow.
func TestConcurrentLines(t *testing.T) {
	d := &dest{delay: time.Millisecond}
	w := logsink.New(d)
	const goroutines, lines = 8, 200
	var wg sync.WaitGroup
	for g := range goroutines {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range lines {
				line := fmt.Sprintf("{\"g\":%d,\"i\":%d,\"pad\":%q}\n", g, i, strings.Repeat("x", i%50))
				if n, err := w.Write([]byte(line)); n != len(line) || err != nil {
					t.Errorf("Write = %d, %v", n, err)
				}
			}
		}()
	}
	wg.Wait()
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	next := make([]int, goroutines)
	got := strings.Split(strings.TrimSuffix(string(d.all()), "\n"), "\n")
	if len(got) != goroutines*lines {
		t.Fatalf("%d lines arrived, want %d", len(got), goroutines*lines)
	}
	for _, l := range got {
		var g, i int
		var pad string
		if _, err := fmt.Sscanf(l, "{\"g\":%d,\"i\":%d,\"pad\":%q}", &g, &i, &pad); err != nil {
			t.Fatalf("a line arrived broken: %q: %v", l, err)
		}
		if i != next[g] || pad != strings.Repeat("x", i%50) {
			t.Fatalf("goroutine %d: line %d arrived where %d was due", g, i, next[g])
		}
		next[g]++
	}
	if n := len(d.writes); n >= goroutines*lines/4 {
		t.Errorf("%d lines took %d writes: not coalesced", goroutines*lines, n)
	}
}

// TestIdleLineWrittenAtOnce: a lone line reaches the destination without
// Close or any other write.
func TestIdleLineWrittenAtOnce(t *testing.T) {
	d := &dest{}
	w := logsink.New(d)
	defer w.Close()
	w.Write([]byte("one\n"))
	deadline := time.Now().Add(10 * time.Second)
	for string(d.all()) != "one\n" {
		if time.Now().After(deadline) {
			t.Fatalf("the line never arrived: %q", d.all())
		}
		time.Sleep(time.Millisecond)
	}
}

// TestBackpressure: with the destination stalled, Write returns until the
// buffer holds its bound, then waits; nothing is lost.
func TestBackpressure(t *testing.T) {
	d := &dest{gate: make(chan struct{}), inside: make(chan struct{}, 16)}
	w := logsink.New(d)
	line := []byte(strings.Repeat("y", 1023) + "\n")
	w.Write(line)
	<-d.inside // the writer goroutine holds that line, stuck in the destination
	for range (1 << 20) / len(line) {
		w.Write(line) // fills the buffer
	}
	blocked := make(chan struct{})
	go func() {
		w.Write(line)
		close(blocked)
	}()
	select {
	case <-blocked:
		t.Fatal("Write returned with the buffer full and the destination stalled")
	case <-time.After(100 * time.Millisecond):
	}
	close(d.gate)
	<-blocked
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	if got, want := len(d.all()), (2+(1<<20)/len(line))*len(line); got != want {
		t.Errorf("%d bytes arrived, want %d", got, want)
	}
}

// TestCloseError: Close reports the destination's error; writes after
// Close go straight through.
func TestCloseError(t *testing.T) {
	boom := errors.New("disk full")
	d := &dest{err: boom}
	w := logsink.New(d)
	w.Write([]byte("a\n"))
	if err := w.Close(); !errors.Is(err, boom) {
		t.Errorf("Close = %v, want %v", err, boom)
	}
	if _, err := w.Write([]byte("b\n")); !errors.Is(err, boom) {
		t.Errorf("Write after Close = %v, want the destination's own error", err)
	}
	if got := string(d.all()); got != "a\nb\n" {
		t.Errorf("destination got %q", got)
	}
}
