// Command soak runs Tollgate under a mixed load for minutes and checks that
// nothing leaks and the ledger reconciles. It builds the binary (or takes
// -bin), starts `tollgate sim` and `tollgate serve` as processes on
// 127.0.0.1 (bbolt store, EMF lines on stdout), and drives plain, streamed,
// tool and (when the gateway serves /v1/embeddings) embedding requests,
// with clients that disconnect mid-stream, a key at its cap, injected
// Bedrock faults and malformed bodies. Afterwards it checks:
//
//   - no goroutine or heap growth: the gateway's go_goroutines and heap in
//     use, idle after a warm-up, against the same idle after the load;
//   - no 5xx other than those the injected faults call for, and no
//     transport error but the deliberate disconnects;
//   - the ledger: each key's settled spend (GET /v1/usage) equals the sum
//     of the costs of its EMF lines to the micro-dollar, nothing is left
//     reserved, the capped key stayed under its cap, and every response
//     whose usage the client saw has an EMF line with the same tokens.
//
// It prints a markdown report (docs/reliability.md holds one) and exits 1
// if a check failed.
//
//	go run ./bench/soak                # 3 minutes
//	go run ./bench/soak -short         # 30 seconds
//	go run ./bench/soak -duration 10m -concurrency 32
//
// Everything is bounded: the load by -duration and -max-requests, the whole
// run by -timeout. Traffic goes to 127.0.0.1 only.
package main

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"flag"
	"fmt"
	"io"
	"math"
	"net/http"
	"os"
	"os/signal"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/tollgate-gw/tollgate/bench/internal/proc"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	ok, err := run(ctx, os.Args[1:], os.Stdout, os.Stderr)
	if err != nil {
		fmt.Fprintln(os.Stderr, "soak:", err)
		os.Exit(2)
	}
	if !ok {
		os.Exit(1)
	}
}

type options struct {
	bin          string
	duration     time.Duration
	warmup       time.Duration
	settle       time.Duration
	concurrency  int
	maxRequests  int
	timeout      time.Duration
	capUSD       string
	sample       time.Duration
	keep         bool
	chunkPause   time.Duration
	drainTimeout time.Duration
	coldSettle   time.Duration
}

func parseFlags(args []string, stderr io.Writer) (options, error) {
	var o options
	short := false
	fs := flag.NewFlagSet("soak", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.StringVar(&o.bin, "bin", "", "tollgate binary (default: go build ./cmd/server into a temp dir)")
	fs.DurationVar(&o.duration, "duration", 3*time.Minute, "how long the load runs")
	fs.BoolVar(&short, "short", false, "a 30 s run (-duration 30s -warmup 5s)")
	fs.DurationVar(&o.warmup, "warmup", 15*time.Second, "load before the baseline sample")
	fs.DurationVar(&o.settle, "settle", 8*time.Second, "idle time before each baseline and final sample (longer than -drain-timeout)")
	fs.IntVar(&o.concurrency, "concurrency", 16, "concurrent clients")
	fs.IntVar(&o.maxRequests, "max-requests", 1_000_000, "stop the load after this many requests")
	fs.DurationVar(&o.timeout, "timeout", 0, "cap on the whole run (default: duration + warmup + 3 min)")
	fs.StringVar(&o.capUSD, "cap-usd", "0.05", "monthly budget of the capped key, which the load exhausts")
	fs.DurationVar(&o.sample, "sample", 5*time.Second, "how often goroutines and memory are sampled")
	fs.BoolVar(&o.keep, "keep", false, "keep the temp dir (logs, EMF lines, store)")
	fs.DurationVar(&o.chunkPause, "chunk-interval", 2*time.Millisecond, "the simulator's pause between streamed deltas, so that disconnects land mid-stream")
	fs.DurationVar(&o.drainTimeout, "drain-timeout", 5*time.Second, "the gateway's -drain-timeout")
	fs.DurationVar(&o.coldSettle, "cold-settle", 95*time.Second, "idle time after the load before the last goroutine sample, longer than the Bedrock client's 90 s idle-connection timeout, so that its pooled connections are gone as before the first request (0: skip)")
	if err := fs.Parse(args); err != nil {
		return o, err
	}
	if short {
		o.duration, o.warmup = 30*time.Second, 5*time.Second
	}
	if o.timeout == 0 {
		o.timeout = o.duration + o.warmup + o.coldSettle + 3*time.Minute
	}
	if o.concurrency < 1 || o.duration <= 0 || o.settle <= o.drainTimeout {
		return o, errors.New("-concurrency and -duration must be positive and -settle longer than -drain-timeout")
	}
	return o, nil
}

// Keys of the soak's policy. capped has a small monthly budget that the
// load exhausts; the others are uncapped, b in a team.
var keyIDs = []string{"soak-a", "soak-b", "soak-capped"}

const (
	chatModel  = "anthropic.claude-3-haiku-20240307-v1:0"
	embedModel = "amazon.titan-embed-text-v2:0"
)

// How long the simulator and the gateway get to log their addresses, and to
// exit after SIGTERM before they are killed: the gateway drains its streams
// first (-drain-timeout, -shutdown-timeout 20s).
const (
	logWait   = 20 * time.Second
	stopGrace = 30 * time.Second
)

// rig is the binary, the two processes and what the driver needs of them.
type rig struct {
	o        options
	dir      string
	stderr   io.Writer
	sim, gw  *proc.Child
	base     string // http://gateway
	admin    string // http://admin
	secrets  map[string]string
	client   *http.Client
	embed    bool   // the gateway serves /v1/embeddings
	embedWhy string // why embeddings are left out
}

func run(ctx context.Context, args []string, stdout, stderr io.Writer) (bool, error) {
	o, err := parseFlags(args, stderr)
	if err != nil {
		return false, err
	}
	ctx, cancel := context.WithTimeout(ctx, o.timeout)
	defer cancel()
	dir, err := os.MkdirTemp("", "tollgate-soak-")
	if err != nil {
		return false, err
	}
	if o.keep {
		fmt.Fprintln(stderr, "soak: keeping", dir)
	} else {
		defer os.RemoveAll(dir)
	}
	r := &rig{o: o, dir: dir, stderr: stderr}
	defer r.close()
	if err := r.start(ctx); err != nil {
		return false, err
	}
	rep, err := r.soak(ctx)
	if err != nil {
		return false, err
	}
	rep.print(stdout)
	return rep.ok(), nil
}

func (r *rig) logf(format string, a ...any) { fmt.Fprintf(r.stderr, "soak: "+format+"\n", a...) }

func (r *rig) close() {
	r.gw.Stop(stopGrace)
	r.sim.Stop(stopGrace)
}

func (r *rig) start(ctx context.Context) error {
	bin := r.o.bin
	if bin == "" {
		r.logf("building ./cmd/server")
		var err error
		if bin, err = proc.Build(ctx, r.dir); err != nil {
			return err
		}
	}
	env := []string{"PATH=" + os.Getenv("PATH"), "HOME=" + r.dir, "AWS_EC2_METADATA_DISABLED=true"}
	sim, err := proc.Start(bin, []string{"sim", "-addr", "127.0.0.1:0", "-chunk-interval", r.o.chunkPause.String()}, env,
		filepath.Join(r.dir, "sim.out"), filepath.Join(r.dir, "sim.log"))
	if err != nil {
		return err
	}
	r.sim = sim
	simURL, err := sim.WaitLog(ctx, logWait, "simulator listening", "url")
	if err != nil {
		return err
	}
	if !strings.HasPrefix(simURL, "http://127.0.0.1:") {
		return fmt.Errorf("the simulator is not on loopback: %s", simURL)
	}

	polDir := filepath.Join(r.dir, "policies")
	if err := os.Mkdir(polDir, 0o700); err != nil {
		return err
	}
	r.secrets = map[string]string{}
	var pol strings.Builder
	pol.WriteString("keys:\n")
	for _, id := range keyIDs {
		secret := "sk-soak-" + rand.Text()
		r.secrets[id] = secret
		sum := sha256.Sum256([]byte(secret))
		fmt.Fprintf(&pol, "  - {id: %s, sha256: %q", id, hex.EncodeToString(sum[:]))
		switch id {
		case "soak-b":
			pol.WriteString(", team: soak-team")
		case "soak-capped":
			fmt.Fprintf(&pol, ", monthly_budget_usd: %s", r.o.capUSD)
		}
		pol.WriteString("}\n")
	}
	pol.WriteString("teams:\n  - {id: soak-team}\n")
	if err := os.WriteFile(filepath.Join(polDir, "soak.yaml"), []byte(pol.String()), 0o600); err != nil {
		return err
	}

	gwEnv := append(env, "AWS_ENDPOINT_URL_BEDROCK_RUNTIME="+simURL, "AWS_ENDPOINT_URL_BEDROCK="+simURL,
		"AWS_REGION=us-east-1", "AWS_ACCESS_KEY_ID=x", "AWS_SECRET_ACCESS_KEY=x")
	gw, err := proc.Start(bin, []string{"serve", "-addr", "127.0.0.1:0", "-admin-addr", "127.0.0.1:0",
		"-policies", polDir, "-store", "bolt://" + filepath.Join(r.dir, "usage.db"), "-emf",
		"-upstream-timeout", "30s", "-drain-timeout", r.o.drainTimeout.String(), "-shutdown-timeout", "20s"},
		gwEnv, filepath.Join(r.dir, "gateway.out"), filepath.Join(r.dir, "gateway.log"))
	if err != nil {
		return err
	}
	r.gw = gw
	addr, err := gw.WaitLog(ctx, logWait, "listening", "addr")
	if err != nil {
		return err
	}
	admin, err := gw.WaitLog(ctx, logWait, "admin listening", "addr")
	if err != nil {
		return err
	}
	for _, a := range []string{addr, admin} {
		if !strings.HasPrefix(a, "127.0.0.1:") {
			return fmt.Errorf("the gateway listens off loopback: %s", a)
		}
	}
	r.base, r.admin = "http://"+addr, "http://"+admin
	r.client = &http.Client{Transport: &http.Transport{Proxy: nil, MaxIdleConns: r.o.concurrency * 2,
		MaxIdleConnsPerHost: r.o.concurrency * 2, IdleConnTimeout: 90 * time.Second, DisableCompression: true}}

	// Does the gateway serve embeddings (yet)?
	res := r.do(ctx, "soak-a", "/v1/embeddings", embedBody(), kindEmbed)
	switch {
	case res.status == 200 && res.sawUsage:
		r.embed = true
	default:
		r.embedWhy = fmt.Sprintf("POST /v1/embeddings answered %d %s", res.status, res.detail)
	}
	r.logf("simulator %s (pid %d), gateway %s (pid %d), admin %s; embeddings: %v %s",
		simURL, sim.PID(), r.base, gw.PID(), r.admin, r.embed, r.embedWhy)
	return nil
}

// sample is one observation of the gateway.
type sample struct {
	at         time.Duration
	goroutines float64
	heap       float64 // go_memstats_heap_inuse_bytes
	rss        int64   // KiB
	requests   int64
}

func (r *rig) sampleNow(start time.Time, requests int64) sample {
	m, _ := proc.ReadMem(r.gw.PID()) // all 0 when /proc cannot be read
	s := sample{at: time.Since(start), rss: m.RSS, requests: requests}
	s.goroutines, _ = scrapeGauge(r.client, r.admin+"/metrics", "go_goroutines")
	s.heap, _ = scrapeGauge(r.client, r.admin+"/metrics", "go_memstats_heap_inuse_bytes")
	return s
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

// idleSample waits for in-flight work (drains included) to end, closes the
// driver's idle connections and samples.
func (r *rig) idleSample(ctx context.Context, start time.Time, requests int64) sample {
	select {
	case <-ctx.Done():
	case <-time.After(r.o.settle):
	}
	r.client.CloseIdleConnections()
	time.Sleep(time.Second)
	return r.sampleNow(start, requests)
}

// soak runs the warm-up, the baseline, the load and the checks.
func (r *rig) soak(ctx context.Context) (*report, error) {
	rep := &report{opts: r.o, embed: r.embed, embedWhy: r.embedWhy, outcomes: map[string]*tally{}}
	start := time.Now()
	var sent atomic.Int64
	var mu sync.Mutex
	var results []result
	collect := func(res result) {
		mu.Lock()
		results = append(results, res)
		rep.add(res)
		mu.Unlock()
	}

	// Before any load: the fresh process (but for the embeddings probe).
	rep.fresh = r.sampleNow(start, 0)
	// Warm-up, then the idle baseline.
	r.logf("warm-up %s", r.o.warmup)
	r.drive(ctx, r.o.warmup, &sent, collect)
	rep.baseline = r.idleSample(ctx, start, sent.Load())
	r.logf("baseline: %.0f goroutines, heap %.1f MiB, RSS %.1f MiB", rep.baseline.goroutines, rep.baseline.heap/(1<<20), float64(rep.baseline.rss)/1024)

	// The load, sampled.
	r.logf("load for %s at concurrency %d", r.o.duration, r.o.concurrency)
	loadStart := time.Now()
	sampling, stopSampling := context.WithCancel(ctx)
	var sampled sync.WaitGroup
	sampled.Add(1)
	go func() {
		defer sampled.Done()
		for {
			select {
			case <-sampling.Done():
				return
			case <-time.After(r.o.sample):
				s := r.sampleNow(start, sent.Load())
				mu.Lock()
				rep.samples = append(rep.samples, s)
				mu.Unlock()
			}
		}
	}()
	r.drive(ctx, r.o.duration, &sent, collect)
	rep.loadTime = time.Since(loadStart)
	stopSampling()
	sampled.Wait()
	rep.final = r.idleSample(ctx, start, sent.Load())
	if r.o.coldSettle > 0 {
		r.logf("idle %s, until the gateway's pooled Bedrock connections time out", r.o.coldSettle)
		select {
		case <-ctx.Done():
		case <-time.After(r.o.coldSettle):
		}
		r.client.CloseIdleConnections()
		rep.cold = r.sampleNow(start, sent.Load())
		rep.coldTaken = true
	}
	if ctx.Err() != nil {
		return nil, fmt.Errorf("the run hit -timeout: %w", ctx.Err())
	}

	// The ledger, as the keys see it, then the gateway's EMF lines once it
	// has stopped and flushed them.
	rep.spent = map[string]int64{}
	rep.reserved = map[string]int64{}
	for _, id := range keyIDs {
		u, err := r.usage(ctx, id)
		if err != nil {
			return nil, err
		}
		rep.spent[id], rep.reserved[id] = u.spent, u.reserved
		if u.limit >= 0 {
			rep.capLimit = u.limit
		}
	}
	r.gw.Stop(stopGrace)
	rep.gatewayExit = r.gw.ExitState()
	emf, err := readEMF(r.gw.StdoutPath())
	if err != nil {
		return nil, err
	}
	rep.reconcile(results, emf)
	rep.logErrors = countLogLevel(r.gw.StderrPath(), "ERROR")
	rep.panics = countLogMsg(r.gw.StderrPath(), "panic")
	return rep, nil
}

// drive runs o.concurrency clients for d (or until the request bound).
func (r *rig) drive(ctx context.Context, d time.Duration, sent *atomic.Int64, collect func(result)) {
	ctx, cancel := context.WithTimeout(ctx, d)
	defer cancel()
	var wg sync.WaitGroup
	for w := range r.o.concurrency {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := w; ctx.Err() == nil; i += r.o.concurrency {
				n := sent.Add(1)
				if n > int64(r.o.maxRequests) {
					return
				}
				collect(r.one(context.WithoutCancel(ctx), int(n)))
			}
		}()
	}
	wg.Wait()
}

// usageOf is a key's GET /v1/usage, in micro-USD; limit -1 when uncapped.
type keyUsage struct{ spent, reserved, limit int64 }

func (r *rig) usage(ctx context.Context, id string) (keyUsage, error) {
	req, _ := http.NewRequestWithContext(ctx, "GET", r.base+"/v1/usage", nil)
	req.Header.Set("Authorization", "Bearer "+r.secrets[id])
	resp, err := r.client.Do(req)
	if err != nil {
		return keyUsage{}, err
	}
	defer resp.Body.Close()
	var body struct {
		Key struct {
			LimitUSD    *float64 `json:"limit_usd"`
			SpentUSD    float64  `json:"spent_usd"`
			ReservedUSD float64  `json:"reserved_usd"`
		} `json:"key"`
	}
	if err := decodeJSON(resp.Body, &body); err != nil || resp.StatusCode != 200 {
		return keyUsage{}, fmt.Errorf("GET /v1/usage for %s: %d %v", id, resp.StatusCode, err)
	}
	u := keyUsage{spent: toMicros(body.Key.SpentUSD), reserved: toMicros(body.Key.ReservedUSD), limit: -1}
	if body.Key.LimitUSD != nil {
		u.limit = toMicros(*body.Key.LimitUSD)
	}
	return u, nil
}

func toMicros(usd float64) int64 { return int64(math.Round(usd * 1e6)) }
