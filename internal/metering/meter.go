package metering

import (
	"errors"
	"io"
	"strconv"
	"sync"
	"time"
	"unicode/utf8"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
)

// Event is what one request used and how it ended. Budget settlement produces
// exactly one per request, failed and client-disconnected ones included.
type Event struct {
	RequestID        string
	Time             time.Time     // when the request ended; zero means Options.Now()
	KeyID, Team      string        // the key's policy id (never a secret); Team "" when none
	Model            string        // as requested (may be an alias)
	ResolvedModel    string        // the Bedrock model id called
	Endpoint         string        // "chat.completions", "embeddings", "messages", "messages.count_tokens"
	Stream           bool          // the client asked for a stream
	Status           int           // HTTP status sent
	UpstreamError    string        // Bedrock error code ("ThrottlingException"), "" when none
	InputTokens      int64         // tokens; negative values count as 0
	OutputTokens     int64         // tokens
	CacheReadTokens  int64         // tokens
	CacheWriteTokens int64         // tokens
	CostMicros       int64         // micro-USD
	Latency          time.Duration // the whole request
	TimeToFirstToken time.Duration // streams: until the first content chunk; 0 when none
	Estimated        bool          // usage estimated (the stream broke before Bedrock reported it)
	PolicyVersion    string        // the version of the policy the request was served under
}

// Label values that stand for others, so that label cardinality stays bounded.
const (
	// Other replaces a key that is not in the current policy, a model the
	// gateway does not know, and an upstream error code past the first
	// MaxErrorCodes distinct ones.
	Other = "other"
	// NoTeam is the team label (and EMF Team dimension) of a key without a team.
	NoTeam = "none"
)

// Budget scopes, the values of the scope label of the budget gauges.
const (
	ScopeKey    = "key"
	ScopeTeam   = "team"
	ScopeGlobal = "global"
)

// Bounds on label values the meter cannot check against the gateway's
// knowledge.
const (
	// MaxErrorCodes is how many distinct upstream error codes get their own
	// code label value; later ones are recorded as Other.
	MaxErrorCodes = 64
	// MaxUncheckedValues is how many distinct keys (models) are recorded as
	// they are when Options.KnownKey (KnownModel) is nil.
	MaxUncheckedValues = 1000
)

// DefaultNamespace is the CloudWatch namespace when Options.Namespace is "".
const DefaultNamespace = "Tollgate"

// durationBuckets are the upper bounds, in seconds, of the request duration
// and time-to-first-token histograms: from 50 ms to 5 minutes, the range of
// an LLM call from a cached embedding to a long reasoning stream.
var durationBuckets = []float64{0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 20, 30, 60, 120, 300}

// Options configure a Meter. The zero value is valid: every key and model is
// recorded as it is (up to MaxUncheckedValues of each), no EMF, no CloudWatch.
type Options struct {
	// KnownKey reports whether id is a key of the current policy; others are
	// recorded as Other. It is called on every Record and Rejected, from many
	// goroutines at once: it must be safe for concurrent use and cheap (a map
	// lookup). Nil records the first MaxUncheckedValues keys as they are.
	KnownKey func(id string) bool
	// KnownModel reports whether a requested model name (a Bedrock model id or
	// a policy alias) is one the gateway knows; others are recorded as Other.
	// Same contract as KnownKey.
	KnownModel func(id string) bool
	// Now is the clock, for events whose Time is zero. Nil means time.Now.
	Now func() time.Time
	// EMF, if not nil, receives one CloudWatch Embedded Metric Format JSON line
	// per Record, in a single Write call made under a mutex (so lines never
	// interleave with other users of the same mutex-guarded writer). Write
	// errors are ignored: metering never fails a request.
	EMF io.Writer
	// Namespace is the CloudWatch namespace of the EMF lines and of
	// PutMetricData; "" means DefaultNamespace.
	Namespace string
	// CloudWatch, if not nil, aggregates every Record for PutMetricData; its
	// Run must be started by the caller. One CloudWatch serves one Meter.
	CloudWatch *CloudWatch
}

// Meter records usage events as Prometheus metrics and, optionally, EMF lines
// and CloudWatch aggregates. All methods are safe for concurrent use. A nil
// *Meter records nothing, so that components can take one optionally.
type Meter struct {
	now        func() time.Time
	knownKey   func(string) bool
	knownModel func(string) bool
	codes      *capped

	requests        *prometheus.CounterVec
	tokens          *prometheus.CounterVec
	cost            *prometheus.CounterVec
	duration        *prometheus.HistogramVec
	ttft            *prometheus.HistogramVec
	upstreamErrors  *prometheus.CounterVec
	estimated       *prometheus.CounterVec
	rejections      *prometheus.CounterVec
	fallbacks       *prometheus.CounterVec
	rateRefusals    *prometheus.CounterVec
	alerts          *prometheus.CounterVec
	reloads         *prometheus.CounterVec
	policyInfo      *prometheus.GaugeVec
	inFlight        prometheus.Gauge
	budgetLimit     *prometheus.GaugeVec
	budgetSpent     *prometheus.GaugeVec
	budgetReserved  *prometheus.GaugeVec
	budgetRemaining *prometheus.GaugeVec
	inFlightDone    func()

	seriesMu sync.RWMutex
	series   map[seriesKey]*series

	errMu     sync.RWMutex
	errSeries map[[2]string]prometheus.Counter

	policyMu sync.Mutex // orders policy_info updates

	budgetMu sync.Mutex
	budgets  map[budgetID]struct{} // the scopes whose gauges exist

	emf *emfEncoder
	cw  *CloudWatch
}

// seriesKey is the label values of one cached set of children, after
// collapsing.
type seriesKey struct {
	key, team, model, endpoint string
	status                     int
}

// series is the children of every metric Record touches for one seriesKey,
// so that the hot path does one map lookup instead of a WithLabelValues per
// metric.
type series struct {
	requests                                   prometheus.Counter
	input, output, cacheRead, cacheWrite, cost prometheus.Counter
	estimated                                  prometheus.Counter
	duration                                   prometheus.Observer

	// The time-to-first-token child is made on the first stream that has
	// one, so that endpoints that never stream have no empty histogram.
	ttftOnce sync.Once
	ttft     prometheus.Observer
	model    string
	endpoint string
}

type budgetID struct{ scope, id string }

// NewRegistry returns a fresh registry holding the Go runtime and process
// collectors, for the gateway's /metrics endpoint. Pass it to New.
func NewRegistry() *prometheus.Registry {
	reg := prometheus.NewRegistry()
	reg.MustRegister(
		collectors.NewGoCollector(),
		collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}),
	)
	return reg
}

// New returns a Meter whose metrics are registered on reg. It fails if reg
// already holds one of them (for instance a second Meter on the same
// registry). When opts.CloudWatch is set, its own metrics are registered on
// reg too.
func New(reg prometheus.Registerer, opts Options) (*Meter, error) {
	if reg == nil {
		return nil, errors.New("metering: nil registerer")
	}
	m := &Meter{
		now:        opts.Now,
		knownKey:   opts.KnownKey,
		knownModel: opts.KnownModel,
		codes:      newCapped(MaxErrorCodes),
		series:     make(map[seriesKey]*series),
		errSeries:  make(map[[2]string]prometheus.Counter),
		budgets:    make(map[budgetID]struct{}),
		cw:         opts.CloudWatch,
	}
	if m.now == nil {
		m.now = time.Now
	}
	if m.knownKey == nil {
		m.knownKey = newCapped(MaxUncheckedValues).allow
	}
	if m.knownModel == nil {
		m.knownModel = newCapped(MaxUncheckedValues).allow
	}
	ns := opts.Namespace
	if ns == "" {
		ns = DefaultNamespace
	}
	if opts.EMF != nil {
		m.emf = newEMFEncoder(opts.EMF, ns)
	}

	m.requests = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "tollgate_requests_total",
		Help: "Requests that reached settlement, by key policy id, team, requested model, endpoint and HTTP status sent.",
	}, []string{"key", "team", "model", "endpoint", "status"})
	m.tokens = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "tollgate_tokens_total",
		Help: "Tokens used, by key, team, model and kind (input, output, cache_read, cache_write).",
	}, []string{"key", "team", "model", "kind"})
	m.cost = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "tollgate_cost_usd_total",
		Help: "Cost of the requests in US dollars at the policy's prices, by key, team and model.",
	}, []string{"key", "team", "model"})
	m.duration = prometheus.NewHistogramVec(prometheus.HistogramOpts{
		Name:    "tollgate_request_duration_seconds",
		Help:    "Duration of whole requests, streams included, by model and endpoint.",
		Buckets: durationBuckets,
	}, []string{"model", "endpoint"})
	m.ttft = prometheus.NewHistogramVec(prometheus.HistogramOpts{
		Name:    "tollgate_time_to_first_token_seconds",
		Help:    "Time from the request to the first content chunk of a stream, by model and endpoint.",
		Buckets: durationBuckets,
	}, []string{"model", "endpoint"})
	m.upstreamErrors = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "tollgate_upstream_errors_total",
		Help: "Requests that ended with a Bedrock error, by model and Bedrock error code.",
	}, []string{"model", "code"})
	m.estimated = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "tollgate_usage_estimated_total",
		Help: "Requests whose usage was estimated because the stream broke before Bedrock reported it, by key and model.",
	}, []string{"key", "model"})
	m.rejections = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "tollgate_budget_rejections_total",
		Help: "Requests refused before reaching Bedrock, by key and reason (budget_exceeded, model_not_allowed, ...).",
	}, []string{"key", "reason"})
	m.fallbacks = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "tollgate_fallback_attempts_total",
		Help: "Calls moved to a fallback model because the one before could not answer, by model moved from, model moved to, and reason (throttled, model_not_ready, unavailable, timeout).",
	}, []string{"from", "to", "reason"})
	m.rateRefusals = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "tollgate_rate_limit_refusals_total",
		Help: "Requests refused by a rate limit of the policy, by key, scope whose window was full (key, team) and type of limit (requests, tokens, concurrent).",
	}, []string{"key", "scope", "type"})
	m.alerts = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "tollgate_alerts_sent_total",
		Help: "Budget alerts delivered, by destination (log, webhook, sns, eventbridge) and outcome (ok, failed, dropped).",
	}, []string{"destination", "outcome"})
	m.reloads = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "tollgate_policy_reloads_total",
		Help: "Policy loads, the first one included, by result (success, failure).",
	}, []string{"result"})
	m.policyInfo = prometheus.NewGaugeVec(prometheus.GaugeOpts{
		Name: "tollgate_policy_info",
		Help: "1 for the version of the policy in force; no other version has a series.",
	}, []string{"version"})
	m.inFlight = prometheus.NewGauge(prometheus.GaugeOpts{
		Name: "tollgate_requests_in_flight",
		Help: "Requests being served, streams included.",
	})
	budgetVec := func(name, help string) *prometheus.GaugeVec {
		return prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: name, Help: help}, []string{"scope", "id"})
	}
	m.budgetLimit = budgetVec("tollgate_budget_limit_usd",
		"Monthly budget of a scope (key, team, global) in US dollars; absent for uncapped scopes.")
	m.budgetSpent = budgetVec("tollgate_budget_spent_usd",
		"Spent this month by a scope (key, team, global) in US dollars.")
	m.budgetReserved = budgetVec("tollgate_budget_reserved_usd",
		"Held this month by requests in flight of a scope (key, team, global) in US dollars.")
	m.budgetRemaining = budgetVec("tollgate_budget_remaining_usd",
		"What a capped scope (key, team, global) can still spend this month in US dollars, never below 0; absent for uncapped scopes.")
	m.inFlightDone = m.inFlight.Dec

	cs := []prometheus.Collector{
		m.requests, m.tokens, m.cost, m.duration, m.ttft, m.upstreamErrors, m.estimated,
		m.rejections, m.fallbacks, m.rateRefusals, m.alerts, m.reloads, m.policyInfo, m.inFlight,
		m.budgetLimit, m.budgetSpent, m.budgetReserved, m.budgetRemaining,
	}
	if m.cw != nil {
		m.cw.bind(ns)
		cs = append(cs, m.cw.dropped, m.cw.flushes)
	}
	for _, c := range cs {
		if err := reg.Register(c); err != nil {
			return nil, err
		}
	}
	// Both results exist from the start, so that rate() and alerts see the
	// first failure.
	m.reloads.WithLabelValues("success")
	m.reloads.WithLabelValues("failure")
	return m, nil
}

// Record records one finished request: the Prometheus series, one EMF line if
// Options.EMF is set, and the CloudWatch aggregates if Options.CloudWatch is
// set. It is the only path that counts tollgate_upstream_errors_total (when
// ev.UpstreamError is not ""). It never blocks on I/O other than the EMF
// Write and never waits on CloudWatch.
func (m *Meter) Record(ev Event) {
	if m == nil {
		return
	}
	key := m.keyLabel(ev.KeyID)
	model := m.modelLabel(ev.Model)
	team := NoTeam
	if ev.Team != "" {
		team = clean(ev.Team)
	}
	s := m.seriesFor(seriesKey{key: key, team: team, model: model, endpoint: clean(ev.Endpoint), status: ev.Status})

	s.requests.Inc()
	addTokens(s.input, ev.InputTokens)
	addTokens(s.output, ev.OutputTokens)
	addTokens(s.cacheRead, ev.CacheReadTokens)
	addTokens(s.cacheWrite, ev.CacheWriteTokens)
	if ev.CostMicros > 0 {
		s.cost.Add(float64(ev.CostMicros) / 1e6)
	}
	s.duration.Observe(max(ev.Latency, 0).Seconds())
	if ev.TimeToFirstToken > 0 {
		s.ttftOnce.Do(func() { s.ttft = m.ttft.WithLabelValues(s.model, s.endpoint) })
		s.ttft.Observe(ev.TimeToFirstToken.Seconds())
	}
	if ev.Estimated {
		s.estimated.Inc()
	}
	if ev.UpstreamError != "" {
		m.upstreamError(model, ev.UpstreamError).Inc()
	}

	if m.emf == nil && m.cw == nil {
		return
	}
	t := ev.Time
	if t.IsZero() {
		t = m.now()
	}
	if m.emf != nil {
		m.emf.write(&ev, t, key, team, model)
	}
	if m.cw != nil {
		m.cw.add(&ev, t, key, team, model)
	}
}

func addTokens(c prometheus.Counter, n int64) {
	if n > 0 {
		c.Add(float64(n))
	}
}

// InFlight counts a request as in flight and returns the function that ends
// it; call that exactly once, when the response (or stream) is finished.
func (m *Meter) InFlight() (done func()) {
	if m == nil {
		return func() {}
	}
	m.inFlight.Inc()
	return m.inFlightDone
}

// Rejected counts a request refused before reaching Bedrock, by the key's
// policy id and a reason code such as "budget_exceeded" or
// "model_not_allowed". Reasons are the gateway's error codes, a fixed set.
func (m *Meter) Rejected(keyID, reason string) {
	if m == nil {
		return
	}
	m.rejections.WithLabelValues(m.keyLabel(keyID), clean(reason)).Inc()
}

// Fallback counts a call moved from one Bedrock model id to the next of
// its fallback chain, for reason (the gate's fallback reasons, a fixed
// set). Model ids come from the policy's fallbacks section. With EMF or
// CloudWatch on, it is also a FallbackAttempts count ({FromModel, Reason}).
func (m *Meter) Fallback(from, to, reason string) {
	if m == nil {
		return
	}
	from, to, reason = m.modelLabel(from), m.modelLabel(to), value(reason)
	m.fallbacks.WithLabelValues(from, to, reason).Inc()
	m.count(countFallback, from, reason, to)
}

// RateLimited counts a request refused by a rate limit of the policy:
// keyID is the key's policy id, scope the scope whose window was full
// ("key" or "team"), limit the kind of limit ("requests", "tokens",
// "concurrent"); scope and limit are the budget package's fixed sets. The
// refusal is also counted by Rejected, with the request's error code. With
// EMF or CloudWatch on, it is also a RateLimitRefusals count ({KeyId,
// LimitType}).
func (m *Meter) RateLimited(keyID, scope, limit string) {
	if m == nil {
		return
	}
	key, scope, limit := m.keyLabel(keyID), value(scope), value(limit)
	m.rateRefusals.WithLabelValues(key, scope, limit).Inc()
	m.count(countRateLimit, key, limit, scope)
}

// AlertSent counts one budget alert's delivery to destination ("log",
// "webhook", "sns", "eventbridge"; "queue" for an alert dropped before any)
// with outcome ("ok", "failed", "dropped"), the alert package's fixed sets;
// never a URL or an ARN. With EMF or CloudWatch on, it is also an
// AlertsSent count ({Destination, Outcome}).
func (m *Meter) AlertSent(destination, outcome string) {
	if m == nil {
		return
	}
	destination, outcome = value(destination), value(outcome)
	m.alerts.WithLabelValues(destination, outcome).Inc()
	m.count(countAlert, destination, outcome, "")
}

// PolicyReloaded records a policy load: ok reports whether it succeeded, and
// then version (policy.Policy.Version) becomes the only version
// tollgate_policy_info reports. A failed load keeps the version in force.
// Call it for the first load too.
func (m *Meter) PolicyReloaded(ok bool, version string) {
	if m == nil {
		return
	}
	if !ok {
		m.reloads.WithLabelValues("failure").Inc()
		return
	}
	m.reloads.WithLabelValues("success").Inc()
	m.policyMu.Lock()
	defer m.policyMu.Unlock()
	m.policyInfo.Reset()
	m.policyInfo.WithLabelValues(clean(version)).Set(1)
}

// Budget is one scope's budget in the current month, in micro-USD.
type Budget struct {
	Scope          string // ScopeKey, ScopeTeam or ScopeGlobal
	ID             string // the key or team policy id; "" for the global scope
	LimitMicros    int64  // negative when the scope is uncapped
	SpentMicros    int64
	ReservedMicros int64
}

// SetBudget sets the budget gauges of one scope (see Budget for the
// arguments). For an uncapped scope (limitMicros < 0) the limit and remaining
// gauges are removed, so that spent/limit ratios only exist for capped scopes.
func (m *Meter) SetBudget(scope, id string, limitMicros, spentMicros, reservedMicros int64) {
	if m == nil {
		return
	}
	m.budgetMu.Lock()
	defer m.budgetMu.Unlock()
	m.setBudget(Budget{scope, id, limitMicros, spentMicros, reservedMicros})
}

// SetBudgets replaces the budget gauges with bs: scopes not in bs (keys and
// teams no longer in the policy) lose their series. Use it from a periodic
// refresh that lists every scope of the current policy.
func (m *Meter) SetBudgets(bs []Budget) {
	if m == nil {
		return
	}
	m.budgetMu.Lock()
	defer m.budgetMu.Unlock()
	old := m.budgets
	m.budgets = make(map[budgetID]struct{}, len(bs))
	for _, b := range bs {
		m.setBudget(b)
		delete(old, budgetID{clean(b.Scope), clean(b.ID)})
	}
	for id := range old {
		for _, g := range []*prometheus.GaugeVec{m.budgetLimit, m.budgetSpent, m.budgetReserved, m.budgetRemaining} {
			g.DeleteLabelValues(id.scope, id.id)
		}
	}
}

// setBudget needs m.budgetMu.
func (m *Meter) setBudget(b Budget) {
	scope, id := clean(b.Scope), clean(b.ID)
	m.budgets[budgetID{scope, id}] = struct{}{}
	m.budgetSpent.WithLabelValues(scope, id).Set(usd(b.SpentMicros))
	m.budgetReserved.WithLabelValues(scope, id).Set(usd(b.ReservedMicros))
	if b.LimitMicros < 0 {
		m.budgetLimit.DeleteLabelValues(scope, id)
		m.budgetRemaining.DeleteLabelValues(scope, id)
		return
	}
	m.budgetLimit.WithLabelValues(scope, id).Set(usd(b.LimitMicros))
	m.budgetRemaining.WithLabelValues(scope, id).Set(usd(max(0, b.LimitMicros-b.SpentMicros-b.ReservedMicros)))
}

func usd(micros int64) float64 { return float64(micros) / 1e6 }

func (m *Meter) keyLabel(id string) string {
	if id == "" || !utf8.ValidString(id) || !m.knownKey(id) {
		return Other
	}
	return id
}

func (m *Meter) modelLabel(id string) string {
	if id == "" || !utf8.ValidString(id) || !m.knownModel(id) {
		return Other
	}
	return id
}

// value is clean(s), Other for "": an EMF dimension must not be empty.
func value(s string) string {
	if s == "" {
		return Other
	}
	return clean(s)
}

// clean keeps label values valid: Prometheus refuses invalid UTF-8.
func clean(s string) string {
	if !utf8.ValidString(s) {
		return Other
	}
	return s
}

// seriesFor returns the cached children for k, creating them on first use.
func (m *Meter) seriesFor(k seriesKey) *series {
	m.seriesMu.RLock()
	s, ok := m.series[k]
	m.seriesMu.RUnlock()
	if ok {
		return s
	}
	m.seriesMu.Lock()
	defer m.seriesMu.Unlock()
	if s, ok := m.series[k]; ok {
		return s
	}
	s = &series{
		requests:   m.requests.WithLabelValues(k.key, k.team, k.model, k.endpoint, strconv.Itoa(k.status)),
		input:      m.tokens.WithLabelValues(k.key, k.team, k.model, "input"),
		output:     m.tokens.WithLabelValues(k.key, k.team, k.model, "output"),
		cacheRead:  m.tokens.WithLabelValues(k.key, k.team, k.model, "cache_read"),
		cacheWrite: m.tokens.WithLabelValues(k.key, k.team, k.model, "cache_write"),
		cost:       m.cost.WithLabelValues(k.key, k.team, k.model),
		estimated:  m.estimated.WithLabelValues(k.key, k.model),
		duration:   m.duration.WithLabelValues(k.model, k.endpoint),
		model:      k.model,
		endpoint:   k.endpoint,
	}
	m.series[k] = s
	return s
}

// upstreamError returns the error counter of (model, code), code collapsed
// to Other past MaxErrorCodes distinct codes.
func (m *Meter) upstreamError(model, code string) prometheus.Counter {
	code = clean(code)
	if !m.codes.allow(code) {
		code = Other
	}
	k := [2]string{model, code}
	m.errMu.RLock()
	c, ok := m.errSeries[k]
	m.errMu.RUnlock()
	if ok {
		return c
	}
	m.errMu.Lock()
	defer m.errMu.Unlock()
	if c, ok := m.errSeries[k]; ok {
		return c
	}
	c = m.upstreamErrors.WithLabelValues(model, code)
	m.errSeries[k] = c
	return c
}

// capped admits the first max distinct values it is asked about.
type capped struct {
	mu   sync.RWMutex
	seen map[string]struct{}
	max  int
}

func newCapped(max int) *capped { return &capped{seen: make(map[string]struct{}), max: max} }

func (c *capped) allow(v string) bool {
	c.mu.RLock()
	_, ok := c.seen[v]
	n := len(c.seen)
	c.mu.RUnlock()
	if ok {
		return true
	}
	if n >= c.max {
		return false
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if _, ok := c.seen[v]; ok {
		return true
	}
	if len(c.seen) >= c.max {
		return false
	}
	c.seen[v] = struct{}{}
	return true
}
