package main

// Cold start: from exec of the binary to the first 200 from /healthz.

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os/exec"
	"syscall"
	"time"

	"github.com/tollgate-gw/tollgate/bench/internal/proc"
)

// coldStart execs bin with args and env, reads its stderr until the
// "listening" line, then polls /healthz on a new connection each time until
// it answers 200. It returns the time from just before exec to that 200 and
// to the listening line, the process's memory then (RSS at ready) and the
// CPU time its threads had used by then, and stops the process.
func coldStart(ctx context.Context, bin string, args, env []string) (ready, listening, cpu time.Duration, mem proc.Mem, err error) {
	ctx, cancel := context.WithTimeout(ctx, 15*time.Second)
	defer cancel()
	cmd := exec.Command(bin, args...)
	cmd.Env = env
	stderr, err := cmd.StderrPipe()
	if err != nil {
		return 0, 0, 0, mem, err
	}
	start := time.Now()
	if err := cmd.Start(); err != nil {
		return 0, 0, 0, mem, err
	}
	defer func() {
		_ = cmd.Process.Signal(syscall.SIGTERM)
		t := time.AfterFunc(10*time.Second, func() { _ = cmd.Process.Kill() })
		_ = cmd.Wait()
		t.Stop()
	}()

	addrc := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(stderr)
		for sc.Scan() {
			var rec struct{ Msg, Addr string }
			if json.Unmarshal(sc.Bytes(), &rec) == nil && rec.Msg == "listening" {
				addrc <- rec.Addr
				break
			}
		}
		_, _ = io.Copy(io.Discard, stderr) // until the process exits
	}()
	var addr string
	select {
	case addr = <-addrc:
		listening = time.Since(start)
	case <-ctx.Done():
		return 0, 0, 0, mem, fmt.Errorf("%s %v logged no listening line", bin, args)
	}
	client := &http.Client{Transport: &http.Transport{Proxy: nil, DisableKeepAlives: true}}
	for {
		req, _ := http.NewRequestWithContext(ctx, http.MethodGet, "http://"+addr+"/healthz", nil)
		resp, err := client.Do(req)
		if err == nil {
			_, _ = io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				ready = time.Since(start)
				mem, _ = proc.ReadMem(cmd.Process.Pid)
				cpu, _ = proc.CPUTime(cmd.Process.Pid)
				return ready, listening, cpu, mem, nil
			}
		}
		if ctx.Err() != nil {
			return 0, 0, 0, mem, fmt.Errorf("%s/healthz never answered 200", addr)
		}
		time.Sleep(500 * time.Microsecond)
	}
}
