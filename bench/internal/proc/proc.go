// Package proc starts the processes the benchmarks measure (the simulator,
// the gateway), waits for what they log and answer, stops them, and reads
// what /proc says about them. Used by bench/load, bench/soak and
// bench/lambda.
package proc

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"syscall"
	"time"
)

// tailBytes is how much of a child's log an error quotes.
const tailBytes = 4000

// Child is a started process whose stdout and stderr go to files, so that
// draining them costs the driver nothing while the child is measured.
// Its methods may be called from several goroutines.
type Child struct {
	cmd            *exec.Cmd
	stdout, stderr string        // file paths; stdout "" when discarded
	done           chan struct{} // closed when the process has exited
}

// Start starts bin with args and env, its stderr written to the file stderr
// and its stdout to the file stdout, or discarded when stdout is "". Both
// files are created or truncated. The process is reaped in the background;
// stop it with [Child.Stop] or [Child.Terminate].
func Start(bin string, args, env []string, stdout, stderr string) (*Child, error) {
	cmd := exec.Command(bin, args...)
	cmd.Env = env
	errf, err := create(stderr)
	if err != nil {
		return nil, err
	}
	defer errf.Close() // the child has its own descriptor
	cmd.Stderr = errf
	if stdout != "" {
		outf, err := create(stdout)
		if err != nil {
			return nil, err
		}
		defer outf.Close()
		cmd.Stdout = outf
	}
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	c := &Child{cmd: cmd, stdout: stdout, stderr: stderr, done: make(chan struct{})}
	go func() { _ = cmd.Wait(); close(c.done) }()
	return c, nil
}

func create(path string) (*os.File, error) {
	return os.OpenFile(path, os.O_CREATE|os.O_WRONLY|os.O_TRUNC, 0o600)
}

// PID is the child's process id.
func (c *Child) PID() int { return c.cmd.Process.Pid }

// StdoutPath is the file the child's stdout goes to, "" when discarded.
func (c *Child) StdoutPath() string { return c.stdout }

// StderrPath is the file the child's stderr goes to: Tollgate's JSON log.
func (c *Child) StderrPath() string { return c.stderr }

// Done is closed when the child has exited.
func (c *Child) Done() <-chan struct{} { return c.done }

// ExitState is how the child exited, as [os.ProcessState.String] says it
// ("exit status 0", "signal: killed"). Call it only once Done is closed.
func (c *Child) ExitState() string { return c.cmd.ProcessState.String() }

// WaitLog waits until the child logs a JSON line whose "msg" is msg and
// whose field is a non-empty string, and returns that string. It fails when
// the child exits first, when timeout has passed or when ctx is done.
func (c *Child) WaitLog(ctx context.Context, timeout time.Duration, msg, field string) (string, error) {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	for {
		if v, ok := FindLog(c.stderr, msg, field); ok {
			return v, nil
		}
		select {
		case <-c.done:
			return "", fmt.Errorf("%s exited before logging %q; log:\n%s", c.cmd.Path, msg, Tail(c.stderr))
		case <-ctx.Done():
			return "", fmt.Errorf("no %q log line from %s: %w; log:\n%s", msg, c.cmd.Path, ctx.Err(), Tail(c.stderr))
		case <-time.After(5 * time.Millisecond):
		}
	}
}

// Terminate sends SIGTERM and waits up to grace for the child to exit. It
// returns how long the child took to exit, or, when grace passed first, kills
// it, waits for it and returns an error.
func (c *Child) Terminate(grace time.Duration) (time.Duration, error) {
	start := time.Now()
	_ = c.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-c.done:
		return time.Since(start), nil
	case <-time.After(grace):
		_ = c.cmd.Process.Kill()
		<-c.done
		return 0, fmt.Errorf("%s did not exit within %s of SIGTERM", c.cmd.Path, grace)
	}
}

// Stop is [Child.Terminate] for a defer: it returns once the child has
// exited, at once if it already had. A nil c, a child never started, is
// left alone.
func (c *Child) Stop(grace time.Duration) {
	if c == nil {
		return
	}
	select {
	case <-c.done:
	default:
		_, _ = c.Terminate(grace)
	}
}

// FindLog returns the field of the first JSON line of the file at path whose
// "msg" is msg, and whether that field is a non-empty string. A missing file
// or a line that is not JSON counts as no match.
func FindLog(path, msg, field string) (string, bool) {
	f, err := os.Open(path)
	if err != nil {
		return "", false
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		var rec map[string]any
		if json.Unmarshal(sc.Bytes(), &rec) != nil || rec["msg"] != msg {
			continue
		}
		v, _ := rec[field].(string)
		return v, v != ""
	}
	return "", false
}

// Tail returns the last 4000 bytes of the file at path, for an error
// message; "" when it cannot be read.
func Tail(path string) string {
	b, _ := os.ReadFile(path)
	if len(b) > tailBytes {
		b = b[len(b)-tailBytes:]
	}
	return string(b)
}
