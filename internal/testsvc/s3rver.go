package testsvc

import (
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// S3Credentials are the access key id and secret s3rver accepts by default.
const S3Credentials = "S3RVER"

// S3 starts s3rver (an S3-compatible server, tests/services/node_modules) on
// a free port of 127.0.0.1 with its data in a temporary directory, and stops
// it when the test ends. It returns the endpoint URL, e.g.
// http://127.0.0.1:43211. The server starts with no bucket: create one
// through the SDK with path-style addressing (o.UsePathStyle = true) and the
// credentials S3Credentials/S3Credentials.
//
// When s3rver or node is not installed the test is skipped with a hint to run
// `make services-deps`, except under CI (CI=true), where it fails.
func S3(t testing.TB) (endpoint string) {
	t.Helper()
	bin := s3rverBin(t)
	var lastErr error
	for attempt := 0; attempt < 3; attempt++ { // the free port may be taken before s3rver binds it
		endpoint, err := startS3rver(t, bin)
		if err == nil {
			return endpoint
		}
		lastErr = err
	}
	t.Fatalf("s3rver: %v", lastErr)
	return ""
}

// s3rverBin finds s3rver under tests/services of the module the test runs in.
func s3rverBin(t testing.TB) string {
	t.Helper()
	missing := func(format string, args ...any) {
		t.Helper()
		msg := fmt.Sprintf(format, args...) + ": run `make services-deps` to install the test services"
		if os.Getenv("CI") == "true" {
			t.Fatal(msg)
		}
		t.Skip(msg)
	}
	if _, err := exec.LookPath("node"); err != nil {
		missing("s3rver needs node, which is not on PATH")
	}
	dir, err := os.Getwd()
	if err != nil {
		t.Fatal(err)
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			break
		}
		up := filepath.Dir(dir)
		if up == dir {
			t.Fatal("s3rver: no go.mod above the working directory")
		}
		dir = up
	}
	bin := filepath.Join(dir, "tests", "services", "node_modules", ".bin", "s3rver")
	if _, err := os.Stat(bin); err != nil {
		missing("s3rver is not installed at %s", bin)
	}
	return bin
}

// startS3rver runs one s3rver and waits until it answers HTTP.
func startS3rver(t testing.TB, bin string) (string, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", err
	}
	port := ln.Addr().(*net.TCPAddr).Port
	ln.Close()

	var out strings.Builder
	cmd := exec.Command(bin, "--address", "127.0.0.1", "--port", fmt.Sprint(port),
		"--directory", t.TempDir(), "--silent")
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Start(); err != nil {
		return "", err
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	stop := func() {
		_ = cmd.Process.Kill()
		<-exited
	}

	endpoint := fmt.Sprintf("http://127.0.0.1:%d", port)
	client := &http.Client{Timeout: time.Second}
	deadline := time.Now().Add(120 * time.Second) // busy machines start node slowly
	for {
		select {
		case err := <-exited:
			exited <- err
			stop()
			return "", fmt.Errorf("exited before answering (%v): %s", err, out.String())
		default:
		}
		resp, err := client.Get(endpoint + "/")
		if err == nil {
			resp.Body.Close()
			break
		}
		if time.Now().After(deadline) {
			stop() // before reading out, which s3rver's output is copied to until it exits
			return "", errors.New("no answer within 30s: " + out.String())
		}
		time.Sleep(50 * time.Millisecond)
	}
	t.Cleanup(stop)
	return endpoint, nil
}
