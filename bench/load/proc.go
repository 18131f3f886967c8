package main

// Child processes (the simulator, the gateway) and what /proc says about them.

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// clockTicks is USER_HZ, the unit of utime and stime in /proc/PID/stat
// (getconf CLK_TCK; 100 on every Linux this runs on).
const clockTicks = 100

// child is a started process whose stderr log is a file, so that draining it
// costs the driver nothing while the child is measured.
type child struct {
	cmd     *exec.Cmd
	logPath string
	done    chan struct{} // closed when the process has exited
}

// startChild starts bin with args and env, its stdout discarded and its
// stderr appended to logPath.
func startChild(bin string, args, env []string, logPath string) (*child, error) {
	logf, err := os.OpenFile(logPath, os.O_CREATE|os.O_WRONLY|os.O_TRUNC, 0o600)
	if err != nil {
		return nil, err
	}
	defer logf.Close() // the child has its own descriptor
	cmd := exec.Command(bin, args...)
	cmd.Env = env
	cmd.Stderr = logf
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	c := &child{cmd: cmd, logPath: logPath, done: make(chan struct{})}
	go func() { _ = cmd.Wait(); close(c.done) }()
	return c, nil
}

func (c *child) pid() int { return c.cmd.Process.Pid }

// waitLog waits until the child logs a JSON line whose msg is msg and
// returns the value of field in it.
func (c *child) waitLog(ctx context.Context, msg, field string) (string, error) {
	ctx, cancel := context.WithTimeout(ctx, 15*time.Second)
	defer cancel()
	for {
		if v, ok := findLog(c.logPath, msg, field); ok {
			return v, nil
		}
		select {
		case <-c.done:
			return "", fmt.Errorf("%s exited before logging %q; log:\n%s", c.cmd.Path, msg, tail(c.logPath))
		case <-ctx.Done():
			return "", fmt.Errorf("no %q log line from %s: %w", msg, c.cmd.Path, ctx.Err())
		case <-time.After(5 * time.Millisecond):
		}
	}
}

// stop sends SIGTERM, waits up to 10 s for the child to exit, then kills it.
func (c *child) stop() {
	_ = c.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-c.done:
	case <-time.After(10 * time.Second):
		_ = c.cmd.Process.Kill()
		<-c.done
	}
}

func findLog(path, msg, field string) (string, bool) {
	f, err := os.Open(path)
	if err != nil {
		return "", false
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
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

func tail(path string) string {
	b, _ := os.ReadFile(path)
	if len(b) > 2000 {
		b = b[len(b)-2000:]
	}
	return string(b)
}

// cpuTicks returns utime+stime of process pid, all its threads, in clock
// ticks (fields 14 and 15 of /proc/PID/stat).
func cpuTicks(pid int) (int64, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0, err
	}
	// The command name (field 2) may hold spaces; fields are counted after it.
	s := string(b)
	i := strings.LastIndexByte(s, ')')
	if i < 0 {
		return 0, errors.New("malformed /proc/PID/stat")
	}
	f := strings.Fields(s[i+1:]) // f[0] is field 3
	if len(f) < 13 {
		return 0, errors.New("short /proc/PID/stat")
	}
	utime, err1 := strconv.ParseInt(f[11], 10, 64)
	stime, err2 := strconv.ParseInt(f[12], 10, 64)
	if err := errors.Join(err1, err2); err != nil {
		return 0, err
	}
	return utime + stime, nil
}

// mem is what /proc/PID/status says of a process's memory, in KiB. RSS is
// anonymous memory (the Go heap, stacks, runtime) plus file pages mapped and
// touched (the binary's text and data, the bbolt file, which bbolt reads
// through mmap) plus shared memory.
type mem struct {
	rss, hwm, anon, file int64
}

// memOf reads VmRSS, VmHWM, RssAnon and RssFile of process pid.
func memOf(pid int) (mem, error) {
	var m mem
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return m, err
	}
	for line := range strings.Lines(string(b)) {
		name, val, ok := strings.Cut(line, ":")
		if !ok {
			continue
		}
		var dst *int64
		switch name {
		case "VmRSS":
			dst = &m.rss
		case "VmHWM":
			dst = &m.hwm
		case "RssAnon":
			dst = &m.anon
		case "RssFile":
			dst = &m.file
		default:
			continue
		}
		*dst, _ = strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(val), " kB"), 10, 64)
	}
	return m, nil
}

// timeWaitTo returns the TCP sockets in TIME_WAIT whose remote port is port,
// by local address: connections that a client of that port closed in the
// last 60 s. Those in a later set and not in an earlier one were closed in
// between (see [closedSince]); many of them mean the client does not keep
// its connections alive.
func timeWaitTo(port int) map[string]bool {
	set := map[string]bool{}
	for _, path := range []string{"/proc/net/tcp", "/proc/net/tcp6"} {
		b, err := os.ReadFile(path)
		if err != nil {
			continue
		}
		for line := range strings.Lines(string(b)) {
			f := strings.Fields(line)
			if len(f) < 4 || f[3] != "06" { // 06 is TCP_TIME_WAIT
				continue
			}
			_, rport, ok := strings.Cut(f[2], ":")
			if p, err := strconv.ParseInt(rport, 16, 32); ok && err == nil && int(p) == port {
				set[f[1]] = true
			}
		}
	}
	return set
}

// closedSince counts the sockets of after that are not in before.
func closedSince(before, after map[string]bool) int {
	n := 0
	for k := range after {
		if !before[k] {
			n++
		}
	}
	return n
}

// buildBinary builds ./cmd/server into dir, the way `make build` does but
// keeping symbols so that perf can name functions.
func buildBinary(ctx context.Context, dir string) (string, error) {
	bin := filepath.Join(dir, "tollgate")
	cmd := exec.CommandContext(ctx, "go", "build", "-trimpath", "-o", bin, "./cmd/server")
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
	cmd.Stdout, cmd.Stderr = os.Stderr, os.Stderr
	if err := cmd.Run(); err != nil {
		return "", fmt.Errorf("go build ./cmd/server (run from the repository root): %w", err)
	}
	return bin, nil
}

// waitHealthy polls GET base/healthz until it answers 200.
func waitHealthy(ctx context.Context, client *http.Client, base string) error {
	ctx, cancel := context.WithTimeout(ctx, 15*time.Second)
	defer cancel()
	for {
		req, _ := http.NewRequestWithContext(ctx, http.MethodGet, base+"/healthz", nil)
		resp, err := client.Do(req)
		if err == nil {
			_, _ = io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return nil
			}
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("%s/healthz never answered 200: %w", base, ctx.Err())
		case <-time.After(2 * time.Millisecond):
		}
	}
}
