package main

// Child processes (the simulator, the gateway) and what /proc says of them.

import (
	"bufio"
	"context"
	"encoding/json"
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

// child is a started process whose stdout and stderr go to files.
type child struct {
	cmd            *exec.Cmd
	stdout, stderr string // file paths
	done           chan struct{}
}

func startChild(bin string, args, env []string, stdout, stderr string) (*child, error) {
	outf, err := os.Create(stdout)
	if err != nil {
		return nil, err
	}
	defer outf.Close()
	errf, err := os.Create(stderr)
	if err != nil {
		return nil, err
	}
	defer errf.Close()
	cmd := exec.Command(bin, args...)
	cmd.Env = env
	cmd.Stdout, cmd.Stderr = outf, errf
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	c := &child{cmd: cmd, stdout: stdout, stderr: stderr, done: make(chan struct{})}
	go func() { _ = cmd.Wait(); close(c.done) }()
	return c, nil
}

func (c *child) pid() int { return c.cmd.Process.Pid }

// waitLog waits until the child logs a JSON line whose msg is msg and returns
// its field.
func (c *child) waitLog(ctx context.Context, msg, field string) (string, error) {
	ctx, cancel := context.WithTimeout(ctx, 20*time.Second)
	defer cancel()
	for {
		if v, ok := findLog(c.stderr, msg, field); ok {
			return v, nil
		}
		select {
		case <-c.done:
			return "", fmt.Errorf("%s exited before logging %q:\n%s", c.cmd.Path, msg, tail(c.stderr))
		case <-ctx.Done():
			return "", fmt.Errorf("no %q log line from %s: %w", msg, c.cmd.Path, ctx.Err())
		case <-time.After(10 * time.Millisecond):
		}
	}
}

// stop sends SIGTERM and waits up to 30 s, then kills.
func (c *child) stop() {
	_ = c.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-c.done:
	case <-time.After(30 * time.Second):
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

func tail(path string) string {
	b, _ := os.ReadFile(path)
	if len(b) > 3000 {
		b = b[len(b)-3000:]
	}
	return string(b)
}

// rssKiB is VmRSS of pid, in KiB.
func rssKiB(pid int) int64 {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0
	}
	for line := range strings.Lines(string(b)) {
		if v, ok := strings.CutPrefix(line, "VmRSS:"); ok {
			n, _ := strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(v), " kB"), 10, 64)
			return n
		}
	}
	return 0
}

// scrapeGauge reads one unlabelled sample (go_goroutines,
// go_memstats_heap_inuse_bytes) from a Prometheus text exposition.
func scrapeGauge(client *http.Client, url, name string) (float64, error) {
	resp, err := client.Get(url)
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		return 0, err
	}
	for line := range strings.Lines(string(b)) {
		if v, ok := strings.CutPrefix(line, name+" "); ok {
			return strconv.ParseFloat(strings.TrimSpace(v), 64)
		}
	}
	return 0, fmt.Errorf("%s not in %s", name, url)
}

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
