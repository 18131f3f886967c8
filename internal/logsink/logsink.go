// Package logsink writes log lines from many goroutines with few system
// calls. A Writer copies each line into a buffer and returns; one goroutine
// writes everything buffered in a single write, as soon as it runs. Under
// load the lines of many requests share one write; an idle process writes
// each line at once, with no timer. Lines are never reordered or split.
//
// What a Writer holds has not reached its destination: a process that dies
// without Close (SIGKILL, a fatal runtime error) loses the lines of the last
// moment, and a process frozen between requests (AWS Lambda) would hold them
// until it thaws, so the gateway writes directly there.
package logsink

import (
	"io"
	"sync"
)

// maxPending bounds the buffered bytes: past it, Write waits for the
// destination (as a direct write would), so a stalled destination cannot
// grow the buffer without bound.
const maxPending = 1 << 20

// Writer is an io.Writer that coalesces writes; see the package comment.
type Writer struct {
	w io.Writer

	mu      sync.Mutex
	room    sync.Cond // signalled when the buffer has been written
	pending []byte    // lines not yet handed to w
	spare   []byte    // the buffer w is writing, reused
	closed  bool
	err     error // the first error from w

	wake chan struct{} // capacity 1: there is something to write
	done chan struct{} // closed when the writer goroutine has stopped
}

// New starts a Writer in front of w. Call Close to write what is left and
// stop its goroutine.
func New(w io.Writer) *Writer {
	l := &Writer{w: w, wake: make(chan struct{}, 1), done: make(chan struct{})}
	l.room.L = &l.mu
	go l.loop()
	return l
}

// Write buffers p (a copy) and returns len(p), unless the buffer is full,
// when it first waits for the destination. After Close it writes p directly.
func (l *Writer) Write(p []byte) (int, error) {
	l.mu.Lock()
	for len(l.pending) >= maxPending && !l.closed {
		l.room.Wait()
	}
	if l.closed {
		l.mu.Unlock()
		<-l.done // what was buffered goes first
		return l.w.Write(p)
	}
	l.pending = append(l.pending, p...)
	l.mu.Unlock()
	select {
	case l.wake <- struct{}{}:
	default: // already woken: the writer will see these bytes
	}
	return len(p), nil
}

func (l *Writer) loop() {
	defer close(l.done)
	for range l.wake {
		l.mu.Lock()
		b := l.pending
		l.pending, l.spare = l.spare[:0], nil
		closed := l.closed
		l.mu.Unlock()
		if len(b) > 0 {
			if _, err := l.w.Write(b); err != nil {
				l.mu.Lock()
				if l.err == nil {
					l.err = err
				}
				l.mu.Unlock()
			}
		}
		l.mu.Lock()
		if cap(b) <= maxPending { // do not keep a buffer a burst blew up
			l.spare = b[:0]
		}
		l.room.Broadcast()
		l.mu.Unlock()
		if closed {
			return
		}
	}
}

// Close writes what is buffered, stops the writer goroutine and returns the
// first error the destination returned. Later writes go straight to the
// destination.
func (l *Writer) Close() error {
	l.mu.Lock()
	if l.closed {
		l.mu.Unlock()
		return l.err
	}
	l.closed = true
	l.room.Broadcast()
	l.mu.Unlock()
	// The goroutine may be asleep with nothing to write, or writing; one
	// more wake makes it take what is left and stop.
	select {
	case l.wake <- struct{}{}:
	default:
	}
	<-l.done
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.err
}
