package bedrocksim

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"maps"
	"net"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"time"
)

// Operation names, as Stats counts them.
const (
	OpConverse              = "Converse"
	OpConverseStream        = "ConverseStream"
	OpListFoundationModels  = "ListFoundationModels"
	OpGetFoundationModel    = "GetFoundationModel"
	OpListInferenceProfiles = "ListInferenceProfiles"
	OpGetInferenceProfile   = "GetInferenceProfile"
)

// defaultStallTimeout is Options.StallTimeout's default.
const defaultStallTimeout = 5 * time.Minute

// maxRequestBytes bounds a request body.
const maxRequestBytes = 32 << 20

// Options configure a simulator. The zero value is a fast, fault-free
// simulator.
type Options struct {
	Latency       time.Duration    // added before every answer (time to first byte)
	ChunkInterval time.Duration    // pause between streamed deltas (0 = none)
	Now           func() time.Time // clock; nil = time.Now
	// StallTimeout is how long a [sim:stall] stream stalls before the
	// simulator gives up and drops the connection (default 5 min); the client
	// going away ends it sooner.
	StallTimeout time.Duration
}

// Server simulates Amazon Bedrock: the bedrock-runtime Converse and
// ConverseStream APIs and the bedrock control plane's model and
// inference-profile listings, on one host. It is an http.Handler, safe for
// concurrent use. See the package documentation for its behaviour.
type Server struct {
	opts  Options
	now   func() time.Time
	cache *promptCache

	mu    sync.Mutex
	stats Stats
}

// Stats are counters of what a simulator served, to reconcile a gateway's
// metering with what Bedrock would have billed.
type Stats struct {
	// Requests counts requests by operation (OpConverse, ...), whatever their
	// outcome, once routed.
	Requests map[string]int
	// Errors counts failures by exception name: HTTP errors and
	// exception events mid-stream.
	Errors map[string]int
	// Invocations counts model invocations that Bedrock bills: requests that
	// passed validation and produced a reply, even if the connection was then
	// cut or the client went away.
	Invocations int
	// Token totals over the billed invocations, under the token rule of the
	// package documentation. Output tokens are those of the whole reply,
	// also when the stream was interrupted: Bedrock bills what the model
	// generated.
	InputTokens           int64
	OutputTokens          int64
	CacheReadInputTokens  int64
	CacheWriteInputTokens int64
	// ByModel breaks the token totals down by the modelId the client sent
	// (foundation model id, profile id or ARN).
	ByModel map[string]Usage
}

// Usage is token usage, as Bedrock reports it: InputTokens excludes the cache
// tokens; TotalTokens includes them.
type Usage struct {
	InputTokens           int64
	OutputTokens          int64
	TotalTokens           int64
	CacheReadInputTokens  int64
	CacheWriteInputTokens int64
}

// New returns a simulator configured by opts.
func New(opts Options) *Server {
	now := opts.Now
	if now == nil {
		now = time.Now
	}
	if opts.StallTimeout <= 0 {
		opts.StallTimeout = defaultStallTimeout
	}
	return &Server{
		opts:  opts,
		now:   now,
		cache: newPromptCache(now),
		stats: Stats{Requests: map[string]int{}, Errors: map[string]int{}, ByModel: map[string]Usage{}},
	}
}

// Models returns the simulated foundation-model catalog, in listing order.
func (s *Server) Models() []Model {
	out := make([]Model, len(models()))
	for i, m := range models() {
		out[i] = m.clone()
	}
	return out
}

// InferenceProfiles returns the simulated inference profiles of every
// geography, system-defined first, then the application profile.
func (s *Server) InferenceProfiles() []InferenceProfile {
	return append([]InferenceProfile(nil), profiles()...)
}

// Stats returns a snapshot of the simulator's counters.
func (s *Server) Stats() Stats {
	s.mu.Lock()
	defer s.mu.Unlock()
	st := s.stats
	st.Requests = maps.Clone(s.stats.Requests)
	st.Errors = maps.Clone(s.stats.Errors)
	st.ByModel = maps.Clone(s.stats.ByModel)
	return st
}

func (s *Server) countRequest(op string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.stats.Requests[op]++
}

func (s *Server) countError(code string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.stats.Errors[code]++
}

func (s *Server) bill(modelID string, u usage) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.stats.Invocations++
	s.stats.InputTokens += int64(u.InputTokens)
	s.stats.OutputTokens += int64(u.OutputTokens)
	s.stats.CacheReadInputTokens += int64(u.CacheReadInputTokens)
	s.stats.CacheWriteInputTokens += int64(u.CacheWriteInputTokens)
	m := s.stats.ByModel[modelID]
	m.InputTokens += int64(u.InputTokens)
	m.OutputTokens += int64(u.OutputTokens)
	m.TotalTokens += int64(u.TotalTokens)
	m.CacheReadInputTokens += int64(u.CacheReadInputTokens)
	m.CacheWriteInputTokens += int64(u.CacheWriteInputTokens)
	s.stats.ByModel[modelID] = m
}

// fail answers with e and counts it.
func (s *Server) fail(w http.ResponseWriter, e *apiError) {
	s.countError(e.code)
	writeError(w, e)
}

// ServeHTTP implements [http.Handler]. It serves the bedrock-runtime routes
// POST /model/{modelId}/converse and /converse-stream, and the bedrock
// control-plane routes GET /foundation-models[/{id}] and
// /inference-profiles[/{id}]. Every request needs an Authorization header;
// its signature is not checked, but the region of a SigV4 credential scope
// selects the region the simulator answers as.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("x-amzn-RequestId", newRequestID())
	op, id, ok := route(r)
	if !ok {
		s.fail(w, errUnknownOperation)
		return
	}
	s.countRequest(op)
	if r.Header.Get("Authorization") == "" {
		s.fail(w, errMissingAuth)
		return
	}
	region := regionOf(r.Header.Get("Authorization"))
	switch op {
	case OpConverse, OpConverseStream:
		s.serveConverse(w, r, id, region, op == OpConverseStream)
	case OpInvokeModel:
		if claudeID(id, region) {
			s.serveClaude(w, r, id, region, false)
			return
		}
		s.serveInvoke(w, r, id, region)
	case OpInvokeModelWithResponseStream:
		if claudeID(id, region) {
			s.serveClaude(w, r, id, region, true)
			return
		}
		s.fail(w, validationError("The model is unsupported for streaming."))
	case OpCountTokens:
		s.serveCountTokens(w, r, id)
	case OpListFoundationModels:
		s.serveListFoundationModels(w, r, region)
	case OpGetFoundationModel:
		s.serveGetFoundationModel(w, r, id, region)
	case OpListInferenceProfiles:
		s.serveListInferenceProfiles(w, r, region)
	case OpGetInferenceProfile:
		s.serveGetInferenceProfile(w, r, id, region)
	}
}

// claudeID reports whether a runtime request for modelID is for a Claude
// model, which takes Anthropic's Messages body on InvokeModel: an id that
// resolves to one, or any id naming an Anthropic model (whose resolution
// error the Claude path then reports).
func claudeID(modelID, region string) bool {
	if m, err := resolveModel(modelID, region); err == nil {
		return isClaude(m)
	}
	return strings.Contains(modelID, "anthropic.")
}

// route maps a request to an operation and its path identifier. Path
// segments are split before unescaping: the SDK escapes the "/" of an ARN.
func route(r *http.Request) (op, id string, ok bool) {
	segs := strings.Split(strings.TrimPrefix(r.URL.EscapedPath(), "/"), "/")
	for i, seg := range segs {
		u, err := url.PathUnescape(seg)
		if err != nil {
			return "", "", false
		}
		segs[i] = u
	}
	switch {
	case r.Method == http.MethodPost && len(segs) == 3 && segs[0] == "model" && segs[2] == "converse":
		return OpConverse, segs[1], true
	case r.Method == http.MethodPost && len(segs) == 3 && segs[0] == "model" && segs[2] == "converse-stream":
		return OpConverseStream, segs[1], true
	case r.Method == http.MethodPost && len(segs) == 3 && segs[0] == "model" && segs[2] == "invoke":
		return OpInvokeModel, segs[1], true
	case r.Method == http.MethodPost && len(segs) == 3 && segs[0] == "model" && segs[2] == "invoke-with-response-stream":
		return OpInvokeModelWithResponseStream, segs[1], true
	case r.Method == http.MethodPost && len(segs) == 3 && segs[0] == "model" && segs[2] == "count-tokens":
		return OpCountTokens, segs[1], true
	case r.Method == http.MethodGet && len(segs) == 1 && segs[0] == "foundation-models":
		return OpListFoundationModels, "", true
	case r.Method == http.MethodGet && len(segs) == 2 && segs[0] == "foundation-models":
		return OpGetFoundationModel, segs[1], true
	case r.Method == http.MethodGet && len(segs) == 1 && segs[0] == "inference-profiles":
		return OpListInferenceProfiles, "", true
	case r.Method == http.MethodGet && len(segs) == 2 && segs[0] == "inference-profiles":
		return OpGetInferenceProfile, segs[1], true
	}
	return "", "", false
}

var credentialScopeRE = lazyRegexp(`Credential=[^/,\s]+/\d{8}/([a-z0-9-]+)/`)

// regionOf returns the region of a SigV4 Authorization header's credential
// scope, or DefaultRegion.
func regionOf(authorization string) string {
	if m := credentialScopeRE().FindStringSubmatch(authorization); m != nil {
		return m[1]
	}
	return DefaultRegion
}

// newRequestID returns a random UUID, the form of Bedrock's request ids.
func newRequestID() string {
	var b [16]byte
	_, _ = rand.Read(b[:])
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	return fmt.Sprintf("%x-%x-%x-%x-%x", b[0:4], b[4:6], b[6:8], b[8:10], b[10:])
}

// shutdownGrace is how long Start lets in-flight requests finish once its
// context is cancelled, before it closes their connections.
const shutdownGrace = 5 * time.Second

// Start listens on addr (e.g. "127.0.0.1:0"), serves until ctx is cancelled,
// then shuts down gracefully: in-flight requests get a few seconds to finish
// before their connections are closed. It returns the base URL
// ("http://127.0.0.1:PORT") once the listener is ready.
func (s *Server) Start(ctx context.Context, addr string) (baseURL string, err error) {
	ln, err := (&net.ListenConfig{}).Listen(ctx, "tcp", addr)
	if err != nil {
		return "", fmt.Errorf("bedrocksim: listen: %w", err)
	}
	srv := &http.Server{Handler: s, ReadHeaderTimeout: 10 * time.Second}
	go func() {
		if err := srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			_ = ln.Close()
		}
	}()
	go func() {
		<-ctx.Done()
		sctx, cancel := context.WithTimeout(context.Background(), shutdownGrace)
		defer cancel()
		if srv.Shutdown(sctx) != nil {
			_ = srv.Close()
		}
	}()
	host, port, _ := net.SplitHostPort(ln.Addr().String())
	if ip := net.ParseIP(host); ip == nil || ip.IsUnspecified() {
		host = "127.0.0.1"
	}
	return "http://" + net.JoinHostPort(host, port), nil
}
