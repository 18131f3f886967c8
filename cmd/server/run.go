package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/netip"
	"os"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/credentials"

	"github.com/tollgate-gw/tollgate/internal/api"
	"github.com/tollgate-gw/tollgate/internal/bedrocksim"
	"github.com/tollgate-gw/tollgate/internal/budget"
	"github.com/tollgate-gw/tollgate/internal/fetch"
	"github.com/tollgate-gw/tollgate/internal/logsink"
	"github.com/tollgate-gw/tollgate/internal/metering"
	"github.com/tollgate-gw/tollgate/internal/policy"
	"github.com/tollgate-gw/tollgate/internal/policy/s3source"
	"github.com/tollgate-gw/tollgate/internal/upstream"
	"github.com/tollgate-gw/tollgate/internal/usage"
)

// DemoKey is accepted only in -sim mode, where no real Bedrock is reached. A
// gateway talking to real Bedrock never accepts it.
const DemoKey = "sk-tollgate-demo"

// version is set at build time with -ldflags "-X main.version=...".
var version = "dev"

// serveConfig is what `tollgate serve` is told by flags and environment.
type serveConfig struct {
	addr            string
	policies        string
	sim             bool
	store           string
	failOpen        bool
	allowLocalStore bool
	shutdownTimeout time.Duration
	upstreamTimeout time.Duration
	drainTimeout    time.Duration
	bodyTimeout     time.Duration
	writeTimeout    time.Duration
	maxConcurrent   int
	pendingPerKey   int
	pendingPerAddr  int
	lease           time.Duration
	catalogTTL      time.Duration
	maxBodyBytes    int64
	thinkTags       bool
	logLevel        slog.Level
	adminAddr       string
	emf             bool
	cloudWatch      bool
	namespace       string
	imageFetch      bool
	imageHosts      string
	imagePrivate    string
	lambda          bool // running on AWS Lambda
	originSecrets   []string
	corsOrigins     []string
}

func parseServe(inv *invocation) (serveConfig, error) {
	getenv := inv.getenv
	c := serveConfig{lambda: getenv("AWS_LAMBDA_FUNCTION_NAME") != ""}
	fs := inv.flags()
	fs.StringVar(&c.addr, "addr", defaultAddr(getenv), "listen address (env TOLLGATE_ADDR; PORT or AWS_LWA_PORT listen on all interfaces)")
	fs.StringVar(&c.policies, "policies", envOr(getenv, "TOLLGATE_POLICIES", "./policies"), "policy directory, or s3://bucket/prefix/ (env TOLLGATE_POLICIES)")
	fs.BoolVar(&c.sim, "sim", envBool(getenv, "TOLLGATE_SIM"), "start the built-in Bedrock simulator and use it (env TOLLGATE_SIM=1)")
	fs.StringVar(&c.store, "store", envOr(getenv, "TOLLGATE_STORE", defaultStore), "usage store: bolt://FILE, dynamodb://TABLE or memory:// (env TOLLGATE_STORE)")
	fs.BoolVar(&c.failOpen, "budget-fail-open", envBool(getenv, "TOLLGATE_BUDGET_FAIL_OPEN"), "admit budgeted requests when the usage store is unreachable (env TOLLGATE_BUDGET_FAIL_OPEN=1); the default refuses them")
	fs.BoolVar(&c.allowLocalStore, "allow-local-store", envBool(getenv, "TOLLGATE_ALLOW_LOCAL_STORE"), "on Lambda, accept a per-instance store anyway (env TOLLGATE_ALLOW_LOCAL_STORE=1)")
	fs.DurationVar(&c.shutdownTimeout, "shutdown-timeout", envDuration(getenv, "TOLLGATE_SHUTDOWN_TIMEOUT", defaultShutdownTimeout(c.lambda)), "how long in-flight requests may finish after SIGTERM (env TOLLGATE_SHUTDOWN_TIMEOUT)")
	fs.DurationVar(&c.upstreamTimeout, "upstream-timeout", envDuration(getenv, "TOLLGATE_UPSTREAM_TIMEOUT", api.DefaultUpstreamTimeout), "longest Bedrock call, streams included (env TOLLGATE_UPSTREAM_TIMEOUT)")
	fs.DurationVar(&c.drainTimeout, "drain-timeout", envDuration(getenv, "TOLLGATE_DRAIN_TIMEOUT", api.DefaultDrainTimeout), "how long a stream whose client left is still read for its usage (env TOLLGATE_DRAIN_TIMEOUT)")
	fs.DurationVar(&c.bodyTimeout, "body-read-timeout", envDuration(getenv, "TOLLGATE_BODY_READ_TIMEOUT", api.DefaultBodyReadTimeout), "how long a request body may take to arrive (env TOLLGATE_BODY_READ_TIMEOUT)")
	fs.DurationVar(&c.writeTimeout, "stream-write-timeout", envDuration(getenv, "TOLLGATE_STREAM_WRITE_TIMEOUT", api.DefaultStreamWriteTimeout), "how long one write of a stream may wait for a client that stopped reading (env TOLLGATE_STREAM_WRITE_TIMEOUT)")
	fs.IntVar(&c.maxConcurrent, "max-concurrent-requests", int(envInt(getenv, "TOLLGATE_MAX_CONCURRENT_REQUESTS", api.DefaultMaxConcurrent)), "model requests served at once, counted from admission (the body in); past it, 429 with retry-after; -1 = no bound (env TOLLGATE_MAX_CONCURRENT_REQUESTS)")
	fs.IntVar(&c.pendingPerKey, "max-pending-bodies-per-key", int(envInt(getenv, "TOLLGATE_MAX_PENDING_BODIES_PER_KEY", api.DefaultMaxPendingPerKey)), "requests of one key whose body is still arriving; past it, 429; -1 = no bound (env TOLLGATE_MAX_PENDING_BODIES_PER_KEY)")
	fs.IntVar(&c.pendingPerAddr, "max-pending-bodies-per-addr", int(envInt(getenv, "TOLLGATE_MAX_PENDING_BODIES_PER_ADDR", api.DefaultMaxPendingPerAddr)), "requests from one client address (the connection's) whose body is still arriving; past it, 429; -1 = no bound; raise it behind a proxy (env TOLLGATE_MAX_PENDING_BODIES_PER_ADDR)")
	fs.DurationVar(&c.lease, "budget-lease", envDuration(getenv, "TOLLGATE_BUDGET_LEASE", budget.DefaultLease), "how long an unsettled budget reservation (a crashed gateway's) holds budget (env TOLLGATE_BUDGET_LEASE)")
	fs.DurationVar(&c.catalogTTL, "models-ttl", envDuration(getenv, "TOLLGATE_MODELS_TTL", 10*time.Minute), "how long the Bedrock model list is cached (env TOLLGATE_MODELS_TTL)")
	fs.BoolVar(&c.thinkTags, "think-tags", envBool(getenv, "TOLLGATE_THINK_TAGS"), "show model reasoning in content between <think> tags instead of reasoning_content (env TOLLGATE_THINK_TAGS=1)")
	fs.Int64Var(&c.maxBodyBytes, "max-body-bytes", envInt(getenv, "TOLLGATE_MAX_BODY_BYTES", api.DefaultMaxBodyBytes), "largest request body accepted (env TOLLGATE_MAX_BODY_BYTES)")
	fs.StringVar(&c.adminAddr, "admin-addr", envOrOff(getenv, "TOLLGATE_ADMIN_ADDR", "127.0.0.1:9090"), "admin listener serving /metrics, never public; \"\" = off (env TOLLGATE_ADMIN_ADDR, \"off\" = off)")
	fs.BoolVar(&c.emf, "emf", envBoolOr(getenv, "TOLLGATE_EMF", c.lambda), "write a CloudWatch EMF line per request on stdout (env TOLLGATE_EMF; on by default on Lambda)")
	fs.BoolVar(&c.cloudWatch, "cloudwatch", envBool(getenv, "TOLLGATE_CLOUDWATCH"), "send per-minute metrics with CloudWatch PutMetricData (env TOLLGATE_CLOUDWATCH=1)")
	fs.StringVar(&c.namespace, "metrics-namespace", envOr(getenv, "TOLLGATE_METRICS_NAMESPACE", metering.DefaultNamespace), "CloudWatch namespace (env TOLLGATE_METRICS_NAMESPACE)")
	fs.BoolVar(&c.imageFetch, "image-fetch", envBoolOr(getenv, "TOLLGATE_IMAGE_FETCH", true), "fetch images that requests send by http(s) URL, with the SSRF guard (env TOLLGATE_IMAGE_FETCH)")
	fs.StringVar(&c.imageHosts, "image-hosts", getenv("TOLLGATE_IMAGE_HOSTS"), "comma-separated hosts image URLs may name (\"*.example.com\" globs); empty = any public host (env TOLLGATE_IMAGE_HOSTS)")
	fs.StringVar(&c.imagePrivate, "image-allow-private", getenv("TOLLGATE_IMAGE_ALLOW_PRIVATE"), "comma-separated address ranges (CIDR) image URLs may reach despite the SSRF guard, for internal image servers (env TOLLGATE_IMAGE_ALLOW_PRIVATE)")
	// The secret is not the flag's default, which -h would print.
	origin := fs.String("origin-secret", "", "refuse requests whose "+api.OriginHeader+" header is not this value (or one of two, comma-separated, during a rotation); set by the CloudFront front door (env TOLLGATE_ORIGIN_SECRET)")
	cors := fs.String("cors-origins", getenv("TOLLGATE_CORS_ORIGINS"), "comma-separated origins whose browser pages may call the API (\"https://*.example.com\", \"http://localhost:*\" globs; \"*\" = any); empty = no CORS headers (env TOLLGATE_CORS_ORIGINS)")
	level := fs.String("log-level", envOr(getenv, "TOLLGATE_LOG_LEVEL", "info"), "debug, info, warn or error (env TOLLGATE_LOG_LEVEL)")
	if err := inv.noArgs(fs); err != nil {
		return c, err
	}
	if err := c.logLevel.UnmarshalText([]byte(*level)); err != nil {
		return c, inv.mistake("-log-level: %v", err)
	}
	if *origin == "" {
		*origin = getenv("TOLLGATE_ORIGIN_SECRET")
	}
	secrets, err := api.ParseOriginSecrets(*origin)
	if err != nil {
		return c, fmt.Errorf("-origin-secret (env TOLLGATE_ORIGIN_SECRET): %w", err)
	}
	c.originSecrets = secrets
	if c.corsOrigins, err = api.ParseCORSOrigins(*cors); err != nil {
		return c, fmt.Errorf("-cors-origins (env TOLLGATE_CORS_ORIGINS): %w", err)
	}
	if c.adminAddr == "off" {
		c.adminAddr = ""
	}
	if c.upstreamTimeout >= c.lease {
		return c, fmt.Errorf("-upstream-timeout %s must be shorter than the %s -budget-lease: a request must settle before its reservation expires", c.upstreamTimeout, c.lease)
	}
	return c, nil
}

func serve(ctx context.Context, inv *invocation) error {
	getenv, stdout, stderr := inv.getenv, inv.stdout, inv.stderr
	cfg, err := parseServe(inv)
	if err != nil {
		return err
	}
	logOut := stderr
	if !cfg.lambda {
		// One write per request's log line was a tenth of the system calls
		// of a request; under load the lines now share writes. Lambda may
		// freeze the process right after a response, so lines go straight
		// out there.
		sink := logsink.New(stderr)
		defer sink.Close() // deferred first, so it runs last: after "stopped"
		logOut = sink
	}
	log := slog.New(slog.NewJSONHandler(logOut, &slog.HandlerOptions{Level: cfg.logLevel}))

	// Shutdown order: the HTTP server drains, then the deferred
	// settlements are flushed (below), then the background work (policy
	// reloads, lease sweeps, budget gauges) stops, and only then does the
	// store they all use close (this deferred function).
	bgCtx, stopBackground := context.WithCancel(context.WithoutCancel(ctx))
	var bg group
	var store usage.Store
	defer func() {
		stopBackground()
		bg.wait()
		if store != nil {
			if err := store.Close(); err != nil {
				log.Warn("closing the usage store failed", "error", err.Error())
			}
		}
	}()
	// The policy watcher starts before the meter exists and reports its
	// reloads to it once it does.
	var meterRef atomic.Pointer[metering.Meter]

	var endpoint string
	if cfg.sim {
		simCtx, stopSim := context.WithCancel(context.WithoutCancel(ctx))
		defer stopSim()
		endpoint, err = bedrocksim.New(bedrocksim.Options{}).Start(simCtx, "127.0.0.1:0")
		if err != nil {
			return fmt.Errorf("start the Bedrock simulator: %w", err)
		}
	}
	awsCfg, err := loadAWSConfig(ctx, cfg.sim)
	if err != nil {
		return err
	}

	policies, err := startPolicies(ctx, bgCtx, &bg, cfg, getenv, log, &meterRef)
	if err != nil {
		return err
	}
	store, err = openStore(ctx, cfg, awsCfg)
	if err != nil {
		return err
	}
	if err := checkStore(ctx, cfg, awsCfg, store, log); err != nil {
		return err
	}
	bg.run(func() {
		_ = usage.SweepEvery(bgCtx, store, sweepInterval, time.Now, func(n int, err error) {
			if err != nil {
				log.Warn("sweeping expired budget reservations failed", "error", err.Error())
				return
			}
			log.Warn("charged expired budget reservations at their reserved amount (marked estimated): their settlements never reached the store", "count", n)
		})
	})

	bedrockCfg := awsCfg
	if cfg.sim {
		bedrockCfg = simulatorConfig(awsCfg)
	}
	bedrock := upstream.NewClient(bedrockCfg, endpoint)
	catalog := upstream.NewCatalog(bgCtx, bedrock, cfg.catalogTTL, time.Now)
	reg := metering.NewRegistry()
	meter, err := startMetering(bgCtx, &bg, cfg, reg, awsCfg, stdout, log, policies, catalog)
	if err != nil {
		return err
	}
	// The notifier counts its deliveries on the meter, so the meter comes
	// first; the guard, which the budget gauges read, comes after both.
	notifier := newNotifier(awsCfg, getenv, meter, log, policies)
	guard := budget.New(store, budget.Options{FailOpen: cfg.failOpen, Lease: cfg.lease, OnDeferred: logDeferred(log), OnAlert: notifier.Send})
	startBudgetGauges(bgCtx, &bg, log, policies, guard, meter)
	meterRef.Store(meter)
	meter.PolicyReloaded(true, policies.Load().Version)
	var adminAddr string
	if cfg.adminAddr != "" {
		var stopAdmin func()
		adminAddr, stopAdmin, err = startAdmin(cfg.adminAddr, reg, handleUsage(store, policies), log)
		if err != nil {
			return err
		}
		defer stopAdmin()
	}

	images, err := newImageFetcher(cfg)
	if err != nil {
		return err
	}
	handler := api.NewServer(api.Deps{
		Logger:             log,
		Policies:           policies,
		Bedrock:            bedrock,
		Catalog:            catalog,
		Budget:             guard,
		Meter:              meter,
		Images:             images,
		MaxBodyBytes:       cfg.maxBodyBytes,
		UpstreamTimeout:    cfg.upstreamTimeout,
		DrainTimeout:       cfg.drainTimeout,
		BodyReadTimeout:    cfg.bodyTimeout,
		StreamWriteTimeout: cfg.writeTimeout,
		MaxConcurrent:      cfg.maxConcurrent,
		MaxPendingPerKey:   cfg.pendingPerKey,
		MaxPendingPerAddr:  cfg.pendingPerAddr,
		ThinkTags:          cfg.thinkTags,
		Region:             awsCfg.Region,
		OriginSecrets:      cfg.originSecrets,
		CORSOrigins:        cfg.corsOrigins,
	})
	ln, err := net.Listen("tcp", cfg.addr)
	if err != nil {
		return fmt.Errorf("listen: %w", err)
	}
	srv := &http.Server{
		Handler:           handler,
		ReadHeaderTimeout: 10 * time.Second,
		IdleTimeout:       2 * time.Minute,
		MaxHeaderBytes:    64 << 10, // an API request needs a few hundred bytes of headers
		ErrorLog:          slog.NewLogLogger(log.Handler(), slog.LevelWarn),
		Protocols:         listenerProtocols(),
	}
	pol := policies.Load()
	attrs := []any{"addr", ln.Addr().String(), "policy_version", pol.Version, "keys", len(pol.Keys),
		"store", storeKind(cfg.store), "region", awsCfg.Region, "version", version}
	if cfg.sim {
		attrs = append(attrs, "simulator", endpoint, "demo_key", DemoKey)
	}
	defer markHolder(cfg.store, holder{PID: os.Getpid(), Addr: ln.Addr().String(), Admin: adminAddr}, log)()
	log.Info("listening", attrs...)

	serveErr := make(chan error, 1)
	go func() { serveErr <- srv.Serve(ln) }()
	select {
	case err := <-serveErr:
		return fmt.Errorf("serve: %w", err)
	case <-ctx.Done():
	}

	log.Info("shutting down", "timeout", cfg.shutdownTimeout.String())
	shutdownCtx, cancel := context.WithTimeout(context.WithoutCancel(ctx), cfg.shutdownTimeout)
	defer cancel()
	if err := srv.Shutdown(shutdownCtx); err != nil {
		log.Warn("in-flight requests cut at the shutdown timeout", "error", err.Error())
		_ = srv.Close()
	}
	if err := <-serveErr; err != nil && !errors.Is(err, http.ErrServerClosed) {
		return fmt.Errorf("serve: %w", err)
	}
	// Settlements the store did not take in time are still being retried:
	// give them what is left of the shutdown window, and a little more.
	flushCtx, cancelFlush := context.WithTimeout(context.WithoutCancel(ctx), max(time.Until(deadline(shutdownCtx)), minFlush))
	defer cancelFlush()
	if n := guard.Pending(); n > 0 {
		log.Info("waiting for deferred budget settlements", "count", n)
	}
	if err := guard.Flush(flushCtx); err != nil {
		log.Error("deferred budget settlements not recorded at shutdown: their reservations will be charged in full when their leases end", "error", err.Error())
	}
	if err := notifier.Close(flushCtx); err != nil {
		log.Error("budget alerts not delivered at shutdown", "error", err.Error())
	}
	log.Info("stopped")
	return nil
}

// minFlush is the least time deferred settlements get at shutdown, however
// long the HTTP server took to drain.
const minFlush = 2 * time.Second

func deadline(ctx context.Context) time.Time {
	d, _ := ctx.Deadline()
	return d
}

// logDeferred logs settlements that did not reach the store in time, and
// how each ended.
func logDeferred(log *slog.Logger) func(budget.Deferred) {
	return func(d budget.Deferred) {
		attrs := []any{"request_id", d.ReservationID, "key_id", d.KeyID, "cost_micros", d.CostMicros, "attempts", d.Attempts}
		if d.Err != nil {
			attrs = append(attrs, "error", d.Err.Error())
		}
		switch d.State {
		case budget.DeferredPending:
			log.Warn("budget settlement deferred: the usage store did not take it in time; retrying in the background until the reservation's lease ends", attrs...)
		case budget.DeferredRecorded:
			log.Info("deferred budget settlement recorded", attrs...)
		default:
			if d.Reserved {
				log.Error("deferred budget settlement abandoned: the reservation will be charged in full (estimated) when its lease ends", attrs...)
			} else {
				log.Error("deferred budget settlement abandoned: this request's spend is not recorded", attrs...)
			}
		}
	}
}

// sweepInterval is how often expired budget reservations are released.
const sweepInterval = 30 * time.Second

// group runs background goroutines and waits for them.
type group struct{ wg sync.WaitGroup }

func (g *group) run(f func()) {
	g.wg.Add(1)
	go func() { defer g.wg.Done(); f() }()
}

func (g *group) wait() { g.wg.Wait() }

// startPolicies loads the policy and keeps it current: a directory is
// watched, an s3:// location polled. In -sim mode a missing directory is
// an empty policy, and the published demo key is added to every version.
func startPolicies(ctx, bgCtx context.Context, bg *group, cfg serveConfig, getenv func(string) string, log *slog.Logger, meter *atomic.Pointer[metering.Meter]) (*policy.Holder, error) {
	prepare := func(p *policy.Policy) (*policy.Policy, error) {
		if !cfg.sim {
			return p, nil
		}
		return p.WithKey(policy.Key{ID: "demo", SHA256: policy.HashSecret(DemoKey)})
	}
	opts := policy.WatchOptions{
		Logger:   log,
		Prepare:  prepare,
		OnReload: func(p *policy.Policy) { meter.Load().PolicyReloaded(true, p.Version) },
		OnError:  func(error) { meter.Load().PolicyReloaded(false, "") },
	}

	if bucket, prefix, ok := s3source.ParseURL(cfg.policies); ok {
		client, err := newS3Client(ctx, getenv)
		if err != nil {
			return nil, err
		}
		pol, state, err := s3source.Load(ctx, client, bucket, prefix)
		if err != nil {
			return nil, err
		}
		if pol, err = prepare(pol); err != nil {
			return nil, err
		}
		h := policy.NewHolder(pol)
		bg.run(func() {
			_ = s3source.Poll(bgCtx, client, bucket, prefix, s3source.DefaultInterval, h, opts, state)
		})
		return h, nil
	}

	pol, err := policy.Load(cfg.policies)
	if err != nil {
		if _, statErr := os.Stat(cfg.policies); !cfg.sim || statErr == nil {
			return nil, err
		}
		if pol, err = policy.Parse(nil); err != nil {
			return nil, err
		}
		pol, err = prepare(pol)
		return policy.NewHolder(pol), err // nothing to watch
	}
	if pol, err = prepare(pol); err != nil {
		return nil, err
	}
	h := policy.NewHolder(pol)
	bg.run(func() {
		if err := policy.Watch(bgCtx, cfg.policies, h, opts); err != nil && bgCtx.Err() == nil {
			log.Error("policy reloads stopped", "error", err.Error())
		}
	})
	return h, nil
}

// loadAWSConfig reads the standard AWS configuration chain. In -sim mode no
// AWS account is needed: the region defaults to us-east-1.
func loadAWSConfig(ctx context.Context, sim bool) (aws.Config, error) {
	cfg, err := config.LoadDefaultConfig(ctx)
	if err != nil {
		return aws.Config{}, fmt.Errorf("load AWS configuration: %w", err)
	}
	if cfg.Region == "" {
		if !sim {
			return aws.Config{}, errors.New("no AWS region: set AWS_REGION (or a profile's region), or run with -sim")
		}
		cfg.Region = "us-east-1"
	}
	return cfg, nil
}

// simulatorConfig is cfg for the clients of the built-in simulator, which
// needs no credentials: fixed ones keep the chain from probing for real ones.
// Other AWS clients (DynamoDB, S3) keep the chain's.
func simulatorConfig(cfg aws.Config) aws.Config {
	cfg.Credentials = credentials.NewStaticCredentialsProvider("SIMULATOR", "SIMULATOR", "")
	return cfg
}

func defaultAddr(getenv func(string) string) string {
	if a := getenv("TOLLGATE_ADDR"); a != "" {
		return a
	}
	for _, v := range []string{"AWS_LWA_PORT", "PORT"} {
		if p := getenv(v); p != "" {
			return ":" + p
		}
	}
	return "127.0.0.1:8080"
}

func envOr(getenv func(string) string, name, def string) string {
	if v := getenv(name); v != "" {
		return v
	}
	return def
}

// envOrOff is envOr for a setting that can be switched off. getenv cannot
// tell a variable set to "" from one not set, so the value "off" means off
// (the flag takes "" as well).
func envOrOff(getenv func(string) string, name, def string) string {
	switch v := getenv(name); v {
	case "off":
		return ""
	case "":
		return def
	default:
		return v
	}
}

func envBoolOr(getenv func(string) string, name string, def bool) bool {
	if b, err := strconv.ParseBool(getenv(name)); err == nil {
		return b
	}
	return def
}

func envBool(getenv func(string) string, name string) bool {
	b, _ := strconv.ParseBool(getenv(name))
	return b
}

func envDuration(getenv func(string) string, name string, def time.Duration) time.Duration {
	if d, err := time.ParseDuration(getenv(name)); err == nil {
		return d
	}
	return def
}

func envInt(getenv func(string) string, name string, def int64) int64 {
	if n, err := strconv.ParseInt(getenv(name), 10, 64); err == nil {
		return n
	}
	return def
}

// simulate runs the Bedrock simulator alone, for tools that call Bedrock
// directly (AWS_ENDPOINT_URL_BEDROCK_RUNTIME and AWS_ENDPOINT_URL_BEDROCK
// pointing at it) and for benchmarks that keep it out of the gateway's
// process.
func simulate(ctx context.Context, inv *invocation) error {
	fs := inv.flags()
	addr := fs.String("addr", envOr(inv.getenv, "TOLLGATE_SIM_ADDR", "127.0.0.1:8090"), "listen address (env TOLLGATE_SIM_ADDR)")
	var opts bedrocksim.Options
	fs.DurationVar(&opts.Latency, "latency", 0, "added before every answer")
	fs.DurationVar(&opts.ChunkInterval, "chunk-interval", 0, "pause between streamed deltas")
	if err := inv.noArgs(fs); err != nil {
		return err
	}
	log := slog.New(slog.NewJSONHandler(inv.stderr, nil))
	url, err := bedrocksim.New(opts).Start(ctx, *addr)
	if err != nil {
		return fmt.Errorf("start the Bedrock simulator: %w", err)
	}
	log.Info("simulator listening", "url", url, "addr", strings.TrimPrefix(url, "http://"))
	<-ctx.Done()
	return nil
}

// newImageFetcher builds the SSRF-guarded fetcher of image URLs, or nil when
// fetching is off.
func newImageFetcher(cfg serveConfig) (*fetch.Fetcher, error) {
	if !cfg.imageFetch {
		return nil, nil
	}
	var opts fetch.Options
	for _, h := range strings.Split(cfg.imageHosts, ",") {
		if h = strings.TrimSpace(h); h != "" {
			opts.AllowHosts = append(opts.AllowHosts, h)
		}
	}
	for _, p := range strings.Split(cfg.imagePrivate, ",") {
		if p = strings.TrimSpace(p); p == "" {
			continue
		}
		prefix, err := netip.ParsePrefix(p)
		if err != nil {
			return nil, fmt.Errorf("-image-allow-private %q: want address ranges such as 10.1.0.0/16", p)
		}
		opts.AllowPrivate = append(opts.AllowPrivate, prefix)
	}
	return fetch.New(opts), nil
}

// listenerProtocols are what the API listener speaks: HTTP/1.1 and HTTP/2
// in cleartext with prior knowledge (h2c), which several SDKs use by
// default (AWS's JavaScript v3 clients, some Anthropic clients); TLS, where
// used, ends in front of the gateway.
func listenerProtocols() *http.Protocols {
	var p http.Protocols
	p.SetHTTP1(true)
	p.SetUnencryptedHTTP2(true)
	return &p
}
