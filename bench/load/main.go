// Command load measures what the Tollgate gateway costs: CPU per request and
// per streamed chunk against a bare aws-sdk-go-v2 baseline, added latency,
// memory and cold start. It builds the binary (or takes -bin), runs the
// Bedrock simulator and the gateway as separate processes on 127.0.0.1, drives
// them over keep-alive HTTP, kills them, and prints markdown tables on
// stdout. docs/benchmarks.md explains the figures.
//
//	go run ./bench/load                 # from the repository root; what make bench-load runs
//	go run ./bench/load -runs 1 -requests 2000 -stream-requests 200 -cold-starts 5
//
// Every phase is bounded by its request count and by -duration; the whole
// run by -timeout.
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
	"net"
	"net/http"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/tollgate-gw/tollgate/bench/internal/proc"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, os.Args[1:], os.Stdout, os.Stderr); err != nil {
		fmt.Fprintln(os.Stderr, "load:", err)
		os.Exit(1)
	}
}

// logWait bounds the wait for the simulator's and the gateway's address
// lines; stopGrace is how long either gets to exit after SIGTERM before it is
// killed.
const (
	logWait   = 15 * time.Second
	stopGrace = 10 * time.Second
)

// options are the driver's flags.
type options struct {
	bin            string
	requests       int
	streamRequests int
	tokens         int
	concurrency    int
	warmup         int
	serial         int
	runs           int
	coldStarts     int
	duration       time.Duration
	timeout        time.Duration
	logLevel       string
	perf           string
	sdkIdle        int
	gatewayEnv     string
	store          string
	model          string
	prompt         string
	maxTokens      int

	floor     bool
	floorWait time.Duration
	slices    int

	sdkWorker   bool // internal: this process is the bare-SDK child
	proxyWorker bool // internal: this process is the minimal proxy (floor)
	simURL      string
	stream      bool
}

func parseFlags(args []string, stderr io.Writer) (options, error) {
	var o options
	fs := flag.NewFlagSet("load", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.StringVar(&o.bin, "bin", "", "tollgate binary to measure (default: go build ./cmd/server into a temp dir)")
	fs.IntVar(&o.requests, "requests", 20000, "non-streamed requests per run, through the gateway and through the bare SDK each")
	fs.IntVar(&o.streamRequests, "stream-requests", 2000, "streamed requests per run, through the gateway and through the bare SDK each")
	fs.IntVar(&o.tokens, "tokens", 200, "output tokens of each streamed answer ([sim:tokens=N])")
	fs.IntVar(&o.concurrency, "concurrency", 64, "concurrent clients")
	fs.IntVar(&o.warmup, "warmup", 1000, "unmeasured requests before each measured phase")
	fs.IntVar(&o.serial, "serial", 300, "requests per run at concurrency 1, for the latency of an idle gateway (0: skip)")
	fs.IntVar(&o.runs, "runs", 2, "how many times every load phase is repeated (0: no load phase, only the cold starts)")
	fs.IntVar(&o.coldStarts, "cold-starts", 20, "cold starts per mode (0: skip)")
	fs.DurationVar(&o.duration, "duration", 60*time.Second, "cap on each load phase")
	fs.DurationVar(&o.timeout, "timeout", 5*time.Minute, "cap on the whole run")
	fs.StringVar(&o.logLevel, "log-level", "info", "the gateway's -log-level (info logs one line per request, as users run it)")
	fs.StringVar(&o.perf, "perf", "", "if set, perf record -g the gateway during the first run's non-streamed phase into this file, and its streamed phase into this file + .stream")
	fs.IntVar(&o.sdkIdle, "sdk-max-idle-per-host", 0, "MaxIdleConnsPerHost of the bare-SDK baseline's transport (0: the SDK's default, 10, as the gateway uses)")
	fs.StringVar(&o.store, "store", "", "the gateway's -store (default: a fresh bbolt file in the temp dir, bolt://DIR/usage.db, as users run it); memory:// isolates the store's cost")
	fs.StringVar(&o.gatewayEnv, "gateway-env", "", "extra environment of the gateway process, space-separated, e.g. \"GOGC=200 GOMEMLIMIT=30MiB\"")
	fs.StringVar(&o.model, "model", "anthropic.claude-3-haiku-20240307-v1:0", "model id")
	fs.StringVar(&o.prompt, "prompt", "Hello, Bedrock! Summarise the plot of Hamlet in two sentences.", "user message of the non-streamed requests")
	fs.IntVar(&o.maxTokens, "max-tokens", 1024, "max_tokens of every request")
	fs.IntVar(&o.slices, "slices", 4, "the non-streamed phase of a run is measured in this many slices, each through the gateway, the minimal proxy and the bare SDK in turn")
	fs.BoolVar(&o.floor, "floor", true, "also measure a minimal Go proxy (net/http + the same SDK call, nothing else; floor.go) in every load phase")
	fs.DurationVar(&o.floorWait, "floor-wait", 0, "the minimal proxy waits this long after each non-streamed Converse call, as the gateway waits for its durable settlement (0: no wait)")
	fs.BoolVar(&o.sdkWorker, "sdk-worker", false, "internal: run as the bare-SDK child")
	fs.BoolVar(&o.proxyWorker, "proxy-worker", false, "internal: run as the minimal proxy (floor)")
	fs.StringVar(&o.simURL, "sim-url", "", "internal: the simulator's URL (bare-SDK child)")
	fs.BoolVar(&o.stream, "stream", false, "internal: stream (bare-SDK child)")
	if err := fs.Parse(args); err != nil {
		return o, err
	}
	if o.requests < 1 || o.streamRequests < 1 || o.concurrency < 1 || o.runs < 0 || o.warmup < 0 {
		return o, fmt.Errorf("-requests, -stream-requests and -concurrency must be positive, -runs not negative")
	}
	if o.runs == 0 && o.coldStarts == 0 {
		return o, fmt.Errorf("-runs 0 -cold-starts 0 measures nothing")
	}
	return o, nil
}

func run(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	o, err := parseFlags(args, stderr)
	if err != nil {
		return err
	}
	if o.proxyWorker {
		return proxyWorker(o.simURL, o.floorWait, stderr)
	}
	if o.sdkWorker {
		return sdkWorker(sdkJob{SimURL: o.simURL, Model: o.model, Prompt: o.prompt, MaxTokens: int32(o.maxTokens),
			Stream: o.stream, Requests: o.requests, Concurrency: o.concurrency, Warmup: o.warmup,
			Duration: o.duration, MaxIdleConnsPerHost: o.sdkIdle}, stdout)
	}
	ctx, cancel := context.WithTimeout(ctx, o.timeout)
	defer cancel()
	dir, err := os.MkdirTemp("", "tollgate-load-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)

	r := &rig{o: o, dir: dir, stderr: stderr}
	defer r.close()
	if err := r.start(ctx); err != nil {
		return err
	}
	rep := report{opts: o}
	for i := range o.runs {
		rr, err := r.loadRun(ctx, i)
		if err != nil {
			return err
		}
		rep.runs = append(rep.runs, rr)
	}
	rep.final, _ = proc.ReadMem(r.gw.PID())
	rep.served = r.served
	r.gw.Stop(stopGrace) // cold starts run alone but for the simulator
	if rep.cold, err = r.coldStarts(ctx); err != nil {
		return err
	}
	rep.print(stdout)
	return nil
}

// rig is the binary, the simulator and the gateway under measurement, and
// the requests they are sent.
type rig struct {
	o      options
	dir    string
	stderr io.Writer

	bin      string
	sim, gw  *proc.Child
	floor    *proc.Child // nil without -floor
	simURL   string
	simPort  int
	polDir   string
	gwEnv    []string
	served   int // requests the gateway has answered
	plain    call
	streamed call
	job      sdkJob // the bare-SDK baseline of plain

	floorPlain, floorStreamed call
}

func (r *rig) logf(format string, a ...any) { fmt.Fprintf(r.stderr, "load: "+format+"\n", a...) }

// start builds the binary if needed, starts the simulator and the gateway
// with a policy holding one fresh key, and checks that the gateway answers.
func (r *rig) start(ctx context.Context) error {
	o := r.o
	r.bin = o.bin
	if r.bin == "" {
		r.logf("building ./cmd/server")
		var err error
		if r.bin, err = proc.Build(ctx, r.dir); err != nil {
			return err
		}
	}

	sim, err := proc.Start(r.bin, []string{"sim", "-addr", "127.0.0.1:0"}, baseEnv(r.dir), "", filepath.Join(r.dir, "sim.log"))
	if err != nil {
		return err
	}
	r.sim = sim
	if r.simURL, err = sim.WaitLog(ctx, logWait, "simulator listening", "url"); err != nil {
		return err
	}
	if r.simPort, err = portOf(r.simURL); err != nil {
		return err
	}

	secret := "sk-bench-" + rand.Text()
	r.polDir = filepath.Join(r.dir, "policies")
	if err := os.Mkdir(r.polDir, 0o700); err != nil {
		return err
	}
	sum := sha256.Sum256([]byte(secret))
	pol := fmt.Sprintf("keys: [{id: bench, sha256: %q}]\n", hex.EncodeToString(sum[:]))
	if err := os.WriteFile(filepath.Join(r.polDir, "bench.yaml"), []byte(pol), 0o600); err != nil {
		return err
	}
	r.gwEnv = gatewayEnv(r.dir, r.simURL)
	r.gwEnv = append(r.gwEnv, strings.Fields(o.gatewayEnv)...)
	// Above info the gateway does not log its address: pick a free port.
	addr, quiet := "127.0.0.1:0", o.logLevel != "info" && o.logLevel != "debug"
	if quiet {
		if addr, err = freeAddr(); err != nil {
			return err
		}
	}
	gw, err := proc.Start(r.bin, []string{"serve", "-addr", addr, "-admin-addr", "off", "-policies", r.polDir, "-store", r.storeArg("usage.db"), "-log-level", o.logLevel},
		r.gwEnv, "", filepath.Join(r.dir, "gateway.log"))
	if err != nil {
		return err
	}
	r.gw = gw
	if !quiet {
		if addr, err = gw.WaitLog(ctx, logWait, "listening", "addr"); err != nil {
			return err
		}
	}
	base := "http://" + addr
	client := newHTTPClient(o.concurrency)
	if err := proc.WaitHealthy(ctx, client, base); err != nil {
		return err
	}
	mt := int32(o.maxTokens)
	if err := checkChat(ctx, client, base, secret, o.model, o.prompt, mt); err != nil {
		return err
	}
	r.served = 2
	r.logf("simulator %s (pid %d), gateway %s (pid %d, -log-level %s)", r.simURL, sim.PID(), base, gw.PID(), o.logLevel)

	r.plain = chatCall(client, base, secret, chatBody(o.model, o.prompt, mt, false), false)
	r.streamed = chatCall(client, base, secret, chatBody(o.model, streamPromptOf(o), mt, true), true)
	if o.floor && o.runs > 0 {
		if err := r.startFloor(ctx, client, mt); err != nil {
			return err
		}
	}
	r.job = sdkJob{SimURL: r.simURL, Model: o.model, Prompt: o.prompt, MaxTokens: mt, Requests: o.requests,
		Concurrency: o.concurrency, Warmup: o.warmup, Duration: o.duration, MaxIdleConnsPerHost: o.sdkIdle}
	return nil
}

// startFloor starts the minimal proxy (floor.go) on the simulator.
func (r *rig) startFloor(ctx context.Context, client *http.Client, maxTokens int32) error {
	self, err := os.Executable()
	if err != nil {
		return err
	}
	r.floor, err = proc.Start(self, []string{"-proxy-worker", "-sim-url", r.simURL, "-floor-wait", r.o.floorWait.String()}, baseEnv(r.dir), "", filepath.Join(r.dir, "floor.log"))
	if err != nil {
		return err
	}
	addr, err := r.floor.WaitLog(ctx, logWait, "listening", "addr")
	if err != nil {
		return err
	}
	base := "http://" + addr
	if err := checkChat(ctx, client, base, "none", r.o.model, r.o.prompt, maxTokens); err != nil {
		return fmt.Errorf("minimal proxy: %w", err)
	}
	r.floorPlain = chatCall(client, base, "none", chatBody(r.o.model, r.o.prompt, maxTokens, false), false)
	r.floorStreamed = chatCall(client, base, "none", chatBody(r.o.model, streamPromptOf(r.o), maxTokens, true), true)
	r.logf("minimal proxy %s (pid %d)", base, r.floor.PID())
	return nil
}

// storeArg is the gateway's -store: -store if set, else a bbolt file named
// name in the temp dir.
func (r *rig) storeArg(name string) string {
	if r.o.store != "" {
		return r.o.store
	}
	return "bolt://" + filepath.Join(r.dir, name)
}

func (r *rig) close() {
	r.gw.Stop(stopGrace)
	if r.floor != nil {
		r.floor.Stop(stopGrace)
	}
	r.sim.Stop(stopGrace)
}

// loadRun is one repetition of the load phases: plain requests through the
// gateway, the minimal proxy and the bare SDK (in interleaved slices), the
// same streamed, and the same plain at concurrency 1. The first slice of the
// first run is profiled when -perf is set.
func (r *rig) loadRun(ctx context.Context, i int) (runReport, error) {
	o := r.o
	var rr runReport
	var err error
	profile := func(suffix string) (stop func(), err error) {
		if o.perf == "" || i > 0 {
			return func() {}, nil
		}
		cmd, err := startPerf(o.perf+suffix, r.gw.PID())
		if err != nil {
			return nil, err
		}
		return func() { stopPerf(cmd) }, nil
	}

	// The non-streamed phase runs in slices, each through the gateway, the
	// minimal proxy and the bare SDK in turn, so that the machine's drift
	// (+-15 % over a minute here) weighs on all three alike.
	slices := max(1, min(o.slices, o.requests))
	var stop func()
	for k := range slices {
		n := o.requests / slices
		if k == slices-1 {
			n = o.requests - n*(slices-1)
		}
		warm := o.warmup
		if k > 0 {
			warm = o.warmup / 10 // the same connections, after a pause
		}
		r.logf("run %d, slice %d/%d: gateway, %d non-streamed requests at concurrency %d", i+1, k+1, slices, n, o.concurrency)
		if k == 0 {
			if stop, err = profile(""); err != nil {
				return rr, err
			}
		}
		p, err := r.measure(ctx, r.gw.PID(), o.concurrency, n, warm, r.plain)
		if k == 0 {
			stop()
		}
		if err != nil {
			return rr, err
		}
		r.served += p.served()
		rr.gwPlain.add(p)
		if r.floor != nil {
			r.logf("run %d, slice %d/%d: minimal proxy, %d non-streamed requests", i+1, k+1, slices, n)
			p, err := r.measure(ctx, r.floor.PID(), o.concurrency, n, warm, r.floorPlain)
			if err != nil {
				return rr, fmt.Errorf("minimal proxy: %w", err)
			}
			rr.floorPlain.add(p)
		}
		r.logf("run %d, slice %d/%d: bare SDK, %d Converse calls at concurrency %d", i+1, k+1, slices, n, o.concurrency)
		job := r.job
		job.Requests = n
		res, err := runSDKChild(ctx, job) // a new process: full warm-up
		if err != nil {
			return rr, err
		}
		rr.sdkPlain.add(res)
	}
	rr.mem, _ = proc.ReadMem(r.gw.PID())
	rr.served = r.served

	r.logf("run %d: gateway, %d streamed requests of %d tokens", i+1, o.streamRequests, o.tokens)
	if stop, err = profile(".stream"); err != nil {
		return rr, err
	}
	rr.gwStream, err = r.measure(ctx, r.gw.PID(), o.concurrency, o.streamRequests, o.warmup/10, r.streamed)
	stop()
	if err != nil {
		return rr, err
	}
	r.served += rr.gwStream.served()
	if r.floor != nil {
		r.logf("run %d: minimal proxy, %d streamed requests", i+1, o.streamRequests)
		if rr.floorStream, err = r.measure(ctx, r.floor.PID(), o.concurrency, o.streamRequests, o.warmup/10, r.floorStreamed); err != nil {
			return rr, fmt.Errorf("minimal proxy: %w", err)
		}
	}
	if o.perf != "" && i == 0 {
		r.logf("perf profiles of the gateway: perf report -i %s --no-children (and %[1]s.stream)", o.perf)
	}
	r.logf("run %d: bare SDK, %d ConverseStream calls", i+1, o.streamRequests)
	job := r.job
	job.Stream, job.Prompt, job.Requests, job.Warmup = true, streamPromptOf(r.o), o.streamRequests, o.warmup/10
	if rr.sdkStream, err = runSDKChild(ctx, job); err != nil {
		return rr, err
	}

	if o.serial > 0 {
		r.logf("run %d: latency at concurrency 1, %d requests each", i+1, o.serial)
		if rr.gwSerial, err = r.measure(ctx, r.gw.PID(), 1, o.serial, 50, r.plain); err != nil {
			return rr, err
		}
		r.served += rr.gwSerial.served()
		job := r.job
		job.Concurrency, job.Requests, job.Warmup = 1, o.serial, 50
		if rr.sdkSerial, err = runSDKChild(ctx, job); err != nil {
			return rr, err
		}
	}
	return rr, nil
}

// streamPromptOf asks the simulator for a reply of -tokens tokens.
func streamPromptOf(o options) string {
	return fmt.Sprintf("Tell me a long story. [sim:tokens=%d]", o.tokens)
}

// coldStarts execs the binary -cold-starts times in each mode (serve
// against the separate simulator, and serve -sim), each start followed by
// one of the bare net/http server (bench/load/bare) built the same way, so
// that exec-to-ready and RSS at ready are ratios measured side by side.
func (r *rig) coldStarts(ctx context.Context) ([]coldStartSeries, error) {
	if r.o.coldStarts <= 0 {
		return nil, nil
	}
	bare, err := proc.BuildBare(ctx, r.dir)
	if err != nil {
		return nil, err
	}
	none := filepath.Join(r.dir, "no-policies") // -sim accepts a missing directory: the demo key only
	modes := []struct {
		name string
		args []string
		env  []string
	}{
		{"`serve` (separate simulator)", []string{"serve", "-addr", "127.0.0.1:0", "-admin-addr", "off", "-policies", r.polDir, "-store", r.storeArg("cold.db")}, r.gwEnv},
		{"`serve -sim`", []string{"serve", "-sim", "-addr", "127.0.0.1:0", "-admin-addr", "off", "-policies", none, "-store", r.storeArg("cold-sim.db")}, baseEnv(r.dir)},
	}
	var all []coldStartSeries
	for _, m := range modes {
		r.logf("cold start %s, %d times, each beside a bare net/http server", m.name, r.o.coldStarts)
		cs := coldStartSeries{mode: m.name}
		for range r.o.coldStarts {
			ready, listening, cpu, mem, err := coldStart(ctx, r.bin, m.args, m.env)
			if err != nil {
				return nil, err
			}
			cs.ready = append(cs.ready, ready)
			cs.listening = append(cs.listening, listening)
			cs.rss = append(cs.rss, mem.RSS)
			cs.cpu = append(cs.cpu, cpu)
			bReady, _, bCPU, bMem, err := coldStart(ctx, bare, nil, baseEnv(r.dir))
			if err != nil {
				return nil, fmt.Errorf("bare server: %w", err)
			}
			cs.bareReady = append(cs.bareReady, bReady)
			cs.bareRSS = append(cs.bareRSS, bMem.RSS)
			cs.bareCPU = append(cs.bareCPU, bCPU)
		}
		all = append(all, cs)
	}
	return all, nil
}

// phase is one measured load phase through the gateway or the minimal proxy.
type phase struct {
	result
	gwTicks   int64 // the measured process's utime+stime over the phase
	simTicks  int64 // the simulator's
	timeWaits int   // connections to the simulator closed during the phase
	warmed    int   // requests answered in the warm-up
}

// add sums p into the phase: CPU, requests and latencies.
func (ph *phase) add(p phase) {
	ph.result.add(p.result)
	ph.gwTicks += p.gwTicks
	ph.simTicks += p.simTicks
	ph.timeWaits += p.timeWaits
	ph.warmed += p.warmed
}

// served is how many requests the process answered in the phase.
func (p phase) served() int { return p.warmed + p.Requests }

// measure warms up, then drives n calls from c clients and reads the CPU
// time of process pid (the gateway or the minimal proxy) and of the
// simulator around them.
func (r *rig) measure(ctx context.Context, pid, c, n, warmup int, do call) (phase, error) {
	ctx, cancel := context.WithTimeout(ctx, r.o.duration)
	defer cancel()
	w := drive(ctx, warmup, c, do)
	if w.Errors > 0 {
		return phase{}, fmt.Errorf("warm-up: %d errors, first: %s", w.Errors, w.FirstErr)
	}
	tw0 := timeWaitTo(r.simPort)
	g0, err1 := proc.CPUTicks(pid)
	s0, err2 := proc.CPUTicks(r.sim.PID())
	res := drive(ctx, n, c, do)
	g1, err3 := proc.CPUTicks(pid)
	s1, err4 := proc.CPUTicks(r.sim.PID())
	if err := errors.Join(err1, err2, err3, err4); err != nil {
		return phase{}, err
	}
	if res.Errors > 0 {
		return phase{}, fmt.Errorf("%d of %d requests failed, first: %s", res.Errors, n, res.FirstErr)
	}
	if res.Requests < n {
		return phase{}, fmt.Errorf("only %d of %d requests within -duration %s", res.Requests, n, r.o.duration)
	}
	return phase{result: res, gwTicks: g1 - g0, simTicks: s1 - s0, timeWaits: closedSince(tw0, timeWaitTo(r.simPort)), warmed: w.Requests}, nil
}

// startPerf samples the gateway's stacks with perf, which must be installed.
func startPerf(out string, pid int) (*exec.Cmd, error) {
	cmd := exec.Command("perf", "record", "-F", "999", "-g", "-p", strconv.Itoa(pid), "-o", out)
	cmd.Stdout, cmd.Stderr = io.Discard, io.Discard
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("perf: %w", err)
	}
	time.Sleep(300 * time.Millisecond) // perf attaches
	return cmd, nil
}

func stopPerf(cmd *exec.Cmd) {
	_ = cmd.Process.Signal(syscall.SIGINT)
	_ = cmd.Wait()
}

// baseEnv is a child's environment without the user's AWS configuration.
func baseEnv(dir string) []string {
	env := []string{"PATH=" + os.Getenv("PATH"), "HOME=" + dir, "AWS_EC2_METADATA_DISABLED=true"}
	if v := os.Getenv("GOMAXPROCS"); v != "" {
		env = append(env, "GOMAXPROCS="+v)
	}
	return env
}

// gatewayEnv points a non-sim gateway at the simulator.
func gatewayEnv(dir, simURL string) []string {
	return append(baseEnv(dir),
		"AWS_ENDPOINT_URL_BEDROCK_RUNTIME="+simURL, "AWS_ENDPOINT_URL_BEDROCK="+simURL,
		"AWS_REGION=us-east-1", "AWS_ACCESS_KEY_ID=x", "AWS_SECRET_ACCESS_KEY=x")
}

// freeAddr returns a loopback address with a port that was free a moment ago.
func freeAddr() (string, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", err
	}
	defer ln.Close()
	return ln.Addr().String(), nil
}

func portOf(url string) (int, error) {
	_, port, err := net.SplitHostPort(strings.TrimPrefix(url, "http://"))
	if err != nil {
		return 0, err
	}
	return strconv.Atoi(port)
}

// runReport is one repetition of the load phases.
type runReport struct {
	gwPlain, gwStream, gwSerial    phase
	floorPlain, floorStream        phase // zero without -floor
	sdkPlain, sdkStream, sdkSerial result
	mem                            proc.Mem // after the non-streamed phase
	served                         int      // requests the gateway had answered by then
}

// coldStartSeries is the cold starts of one mode.
type coldStartSeries struct {
	mode             string
	ready, listening []time.Duration
	rss              []int64         // KiB at ready
	bareReady        []time.Duration // the bare net/http server's, started after each
	bareRSS          []int64
	cpu, bareCPU     []time.Duration // CPU time of all threads at ready
}

type report struct {
	opts   options
	runs   []runReport
	final  proc.Mem
	served int
	cold   []coldStartSeries
}

func (rep report) print(w io.Writer) {
	o := rep.opts
	usPerTick := 1e6 / float64(proc.ClockTicks)
	fmt.Fprintf(w, "\n## Tollgate load benchmark\n\n")
	if len(rep.runs) == 0 {
		fmt.Fprintf(w, "No load phase (-runs 0); GOMAXPROCS %s; %d CPUs.\n", orDefault(os.Getenv("GOMAXPROCS"), "default"), runtime.NumCPU())
		rep.printCold(w)
		return
	}
	fmt.Fprintf(w, "%d non-streamed and %d streamed (%d tokens) requests per run at concurrency %d, %d runs; gateway -log-level %s, -store %s, extra environment %q; GOMAXPROCS %s; %d CPUs.\n\n",
		o.requests, o.streamRequests, o.tokens, o.concurrency, o.runs, o.logLevel, orDefault(o.store, "bolt://"), o.gatewayEnv,
		orDefault(os.Getenv("GOMAXPROCS"), "default"), runtime.NumCPU())

	fmt.Fprintf(w, "### CPU per request\n\n")
	fmt.Fprintf(w, "| run | gateway µs/request | bare SDK µs/call | ratio | gateway µs/streamed request | gateway µs/chunk (chunks/request) | bare SDK µs/stream (events/stream) | stream ratio | simulator µs/request |\n")
	fmt.Fprintf(w, "|---|---|---|---|---|---|---|---|---|\n")
	for i, r := range rep.runs {
		gw := float64(r.gwPlain.gwTicks) * usPerTick / float64(r.gwPlain.Requests)
		sdk := float64(r.sdkPlain.CPUMicros) / float64(r.sdkPlain.Requests)
		gws := float64(r.gwStream.gwTicks) * usPerTick / float64(r.gwStream.Requests)
		chunks := float64(r.gwStream.Chunks) / float64(r.gwStream.Requests)
		sdks := float64(r.sdkStream.CPUMicros) / float64(r.sdkStream.Requests)
		events := float64(r.sdkStream.Chunks) / float64(r.sdkStream.Requests)
		simc := float64(r.gwPlain.simTicks) * usPerTick / float64(r.gwPlain.Requests)
		fmt.Fprintf(w, "| %d | %.0f | %.0f | %.2f | %.0f | %.1f (%.1f) | %.0f (%.1f) | %.2f | %.0f |\n",
			i+1, gw, sdk, gw/sdk, gws, gws/chunks, chunks, sdks, events, gws/sdks, simc)
	}

	if o.floor {
		fmt.Fprintf(w, "\n### Against a minimal proxy\n\n")
		fmt.Fprintf(w, "The minimal proxy (bench/load/floor.go) serves the same requests with net/http, encoding/json and the same SDK call, and nothing else: no authentication, policy, budget, usage store, metering or log. gateway / floor is what Tollgate itself adds; floor / bare is what being an HTTP server costs at all.\n\n")
		if o.floorWait > 0 {
			fmt.Fprintf(w, "With -floor-wait, the proxy slept %s after each non-streamed call (as the gateway waits for its durable settlement).\n\n", o.floorWait)
		}
		fmt.Fprintf(w, "| run | gateway µs/request | floor µs/request | bare SDK µs/call | gateway / floor | floor / bare | gateway µs/chunk | floor µs/chunk | stream gateway / floor |\n")
		fmt.Fprintf(w, "|---|---|---|---|---|---|---|---|---|\n")
		for i, r := range rep.runs {
			gw := float64(r.gwPlain.gwTicks) * usPerTick / float64(r.gwPlain.Requests)
			fl := float64(r.floorPlain.gwTicks) * usPerTick / float64(r.floorPlain.Requests)
			sdk := float64(r.sdkPlain.CPUMicros) / float64(r.sdkPlain.Requests)
			gwc := float64(r.gwStream.gwTicks) * usPerTick / float64(r.gwStream.Chunks)
			flc := float64(r.floorStream.gwTicks) * usPerTick / float64(r.floorStream.Chunks)
			fmt.Fprintf(w, "| %d | %.0f | %.0f | %.0f | %.2f | %.2f | %.1f | %.1f | %.2f |\n", i+1, gw, fl, sdk, gw/fl, fl/sdk, gwc, flc, gwc/flc)
		}
	}

	fmt.Fprintf(w, "\n### Latency at concurrency %d (gateway: OpenAI HTTP JSON; direct: bare SDK to the simulator)\n\n", o.concurrency)
	latencyTable(w, rep.runs, func(r runReport) (phase, result) { return r.gwPlain, r.sdkPlain })
	if o.serial > 0 {
		fmt.Fprintf(w, "\n### Latency at concurrency 1\n\n")
		latencyTable(w, rep.runs, func(r runReport) (phase, result) { return r.gwSerial, r.sdkSerial })
	}
	fmt.Fprintf(w, "\n### Streamed latency at concurrency %d (whole stream)\n\n", o.concurrency)
	latencyTable(w, rep.runs, func(r runReport) (phase, result) { return r.gwStream, r.sdkStream })

	fmt.Fprintf(w, "\n### Gateway memory\n\n| after | requests served | VmRSS | VmHWM | RssAnon | RssFile |\n|---|---|---|---|---|---|\n")
	for i, r := range rep.runs {
		fmt.Fprintf(w, "| run %d non-streamed phase | %d | %s |\n", i+1, r.served, memCells(r.mem))
	}
	fmt.Fprintf(w, "| all runs | %d | %s |\n", rep.served, memCells(rep.final))

	fmt.Fprintf(w, "\n### Connections to the simulator\n\nConnections to the simulator closed by its client during a measured phase (new TIME_WAIT sockets; 0 means every connection was kept alive). The SDK's default transport keeps 10 idle connections per host.\n\n| run | gateway, non-streamed | bare SDK, non-streamed | gateway, streamed | bare SDK, streamed |\n|---|---|---|---|---|\n")
	for i, r := range rep.runs {
		fmt.Fprintf(w, "| %d | %d of %d | %d of %d | %d of %d | %d of %d |\n", i+1,
			r.gwPlain.timeWaits, r.gwPlain.Requests, r.sdkPlain.TimeWaits, r.sdkPlain.Requests,
			r.gwStream.timeWaits, r.gwStream.Requests, r.sdkStream.TimeWaits, r.sdkStream.Requests)
	}

	rep.printCold(w)
}

// printCold prints the cold-start table, if there were cold starts.
func (rep report) printCold(w io.Writer) {
	if len(rep.cold) > 0 {
		fmt.Fprintf(w, "\n### Cold start: exec to the first 200 from /healthz\n\nEach start of the gateway is followed by one of a bare net/http server built the same way (bench/load/bare); the ready ratio is of the medians, and the pair ratios are each start's over the bare start after it. CPU to ready is the time the process's threads spent on a CPU until then: unlike the wall-clock times, it does not grow when other processes hold the CPUs.\n\n")
		fmt.Fprintf(w, "| mode | n | median | p90 | max | median to the listening log line | bare net/http median | ready ratio | pair ratios median (min – max) | CPU to ready (median) | bare CPU | CPU ratio | RSS at ready (median) | bare RSS | RSS ratio |\n|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|\n")
		for _, c := range rep.cold {
			pairs := make([]float64, len(c.ready))
			for i := range c.ready {
				pairs[i] = float64(c.ready[i]) / float64(c.bareReady[i])
			}
			slices.Sort(pairs)
			slices.Sort(c.ready)
			slices.Sort(c.listening)
			slices.Sort(c.bareReady)
			slices.Sort(c.rss)
			slices.Sort(c.bareRSS)
			slices.Sort(c.cpu)
			slices.Sort(c.bareCPU)
			cpu, bareCPU := percentile(c.cpu, 50), percentile(c.bareCPU, 50)
			med, bareMed := percentile(c.ready, 50), percentile(c.bareReady, 50)
			rss, bareRSS := c.rss[len(c.rss)/2], c.bareRSS[len(c.bareRSS)/2]
			fmt.Fprintf(w, "| %s | %d | %s | %s | %s | %s | %s | %.2f | %.2f (%.2f – %.2f) | %s | %s | %.2f | %.1f MiB | %.1f MiB | %.2f |\n", c.mode, len(c.ready),
				ms(med), ms(percentile(c.ready, 90)), ms(c.ready[len(c.ready)-1]), ms(percentile(c.listening, 50)),
				ms(bareMed), float64(med)/float64(bareMed), pairs[len(pairs)/2], pairs[0], pairs[len(pairs)-1],
				ms(cpu), ms(bareCPU), float64(cpu)/float64(bareCPU),
				mib(rss), mib(bareRSS), float64(rss)/float64(bareRSS))
		}
	}
	fmt.Fprintln(w)
}

func latencyTable(w io.Writer, runs []runReport, pick func(runReport) (phase, result)) {
	fmt.Fprintf(w, "| run | gateway req/s | gateway p50 | gateway p99 | direct req/s | direct p50 | direct p99 | added p50 | added p99 |\n")
	fmt.Fprintf(w, "|---|---|---|---|---|---|---|---|---|\n")
	for i, r := range runs {
		g, d := pick(r)
		gp50, gp99 := percentile(g.Latencies, 50), percentile(g.Latencies, 99)
		dp50, dp99 := percentile(d.Latencies, 50), percentile(d.Latencies, 99)
		fmt.Fprintf(w, "| %d | %.0f | %s | %s | %.0f | %s | %s | %s | %s |\n", i+1,
			float64(g.Requests)/g.Wall.Seconds(), ms(gp50), ms(gp99),
			float64(d.Requests)/d.Wall.Seconds(), ms(dp50), ms(dp99), ms(gp50-dp50), ms(gp99-dp99))
	}
}

func ms(d time.Duration) string { return fmt.Sprintf("%.2f ms", float64(d)/1e6) }

func mib(kib int64) float64 { return float64(kib) / 1024 }

// memCells is m's cells of the memory table.
func memCells(m proc.Mem) string {
	return fmt.Sprintf("%.1f MiB | %.1f MiB | %.1f MiB | %.1f MiB", mib(m.RSS), mib(m.HWM), mib(m.Anon), mib(m.File))
}

func orDefault(s, def string) string {
	if s == "" {
		return def
	}
	return s
}
