package budget_test

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"regexp"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"

	"github.com/tollgate-gw/tollgate"
	"github.com/tollgate-gw/tollgate/internal/budget"
	"github.com/tollgate-gw/tollgate/internal/policy"
	"github.com/tollgate-gw/tollgate/internal/tokens"
	"github.com/tollgate-gw/tollgate/internal/usage"
	"github.com/tollgate-gw/tollgate/internal/usage/memory"
)

// The test models, priced by testPricing so that costs are easy to check by
// hand. Prices are nano-USD per token.
const (
	// haiku costs 1 micro-USD per input token and 10 per output token; its
	// cache prices are the policy defaults: reads 0.1 micro (100 nano),
	// writes 1.25 micro (1250 nano), so a worst case prices input at 1.25.
	haiku = "anthropic.claude-3-haiku-20240307-v1:0"
	// lean costs the same per input and output token, but caches cheaply
	// (reads and writes 0.5 micro), so a worst case prices input at 1.
	lean = "amazon.nova-micro-v1:0"
)

const testPricing = `
pricing:
  ` + haiku + `: {input: 1, output: 10}
  ` + lean + `: {input: 1, output: 10, cache_read: 0.5, cache_write: 0.5}
`

// midNovember is the default time of the fixtures' clock.
var midNovember = time.Date(2026, 11, 15, 12, 0, 0, 0, time.UTC)

var hashPlaceholder = regexp.MustCompile(`"#([A-Za-z0-9_.-]+)"`)

// parsePolicy parses one policy file followed by testPricing. A key's sha256
// is written "#id" and becomes the hash of the secret "id", so that fixtures
// stay readable.
func parsePolicy(t *testing.T, yaml string) *policy.Policy {
	t.Helper()
	yaml = hashPlaceholder.ReplaceAllStringFunc(yaml, func(m string) string {
		return `"` + policy.HashSecret(strings.Trim(m, `"#`)) + `"`
	})
	p, err := policy.Parse(map[string][]byte{"policy.yaml": []byte(yaml + testPricing)})
	if err != nil {
		t.Fatalf("policy.Parse: %v", err)
	}
	return p
}

// fakeClock is a settable clock, safe for concurrent use.
type fakeClock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *fakeClock) Set(t time.Time) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = t
}

// spyStore is a usage.Store that counts Reserve calls and, when reserveErr
// is set, fails them with it.
type spyStore struct {
	usage.Store
	reserveErr error
	reserves   atomic.Int64
}

func (s *spyStore) Reserve(ctx context.Context, r *usage.Reservation) error {
	s.reserves.Add(1)
	if s.reserveErr != nil {
		return s.reserveErr
	}
	return s.Store.Reserve(ctx, r)
}

// fixture is a guard on a memory store, both on one fake clock.
type fixture struct {
	clock *fakeClock
	store *spyStore
	guard *budget.Guard
	pol   *policy.Policy
	ids   atomic.Int64
}

func newFixture(t *testing.T, policyYAML string, opts budget.Options) *fixture {
	t.Helper()
	clk := &fakeClock{t: midNovember}
	mem := memory.New(memory.WithClock(clk.Now))
	t.Cleanup(func() { mem.Close() })
	spy := &spyStore{Store: mem}
	opts.Now = clk.Now
	return &fixture{clock: clk, store: spy, guard: budget.New(spy, opts), pol: parsePolicy(t, policyYAML)}
}

// req returns a request of keyID for the haiku model with a fresh ID and
// nothing to read; callers fill in the rest.
func (f *fixture) req(t *testing.T, keyID string) budget.Request {
	t.Helper()
	return f.reqFor(t, keyID, haiku)
}

func (f *fixture) reqFor(t *testing.T, keyID, model string) budget.Request {
	t.Helper()
	k, ok := f.pol.KeyByID(keyID)
	if !ok {
		t.Fatalf("no key %q in the policy", keyID)
	}
	route, err := f.pol.Route(k, model)
	if err != nil {
		t.Fatalf("Route(%s, %s): %v", keyID, model, err)
	}
	return budget.Request{ID: fmt.Sprintf("req-%d", f.ids.Add(1)), Policy: f.pol, Key: k, Route: route}
}

// hold admits a small request of keyID and leaves it in flight. Its worst
// case is 34 micro-USD: one message of nothing, framed (16 + 8 tokens) × 1,
// + 1 output × 10.
func (f *fixture) hold(t *testing.T, keyID string) *budget.Ticket {
	t.Helper()
	r := f.req(t, keyID)
	r.Blocks, r.MaxOutput = 1, 1
	tk, err := f.guard.Admit(context.Background(), r)
	if err != nil {
		t.Fatalf("Admit(%s): %v", keyID, err)
	}
	return tk
}

// holdCost is what hold reserves on a capped scope.
const holdCost = 34

// spend records micros of settled spend on keyID's scopes: a small request,
// admitted, then settled at micros input tokens of haiku (1 micro-USD each),
// which may exceed what it reserved.
func (f *fixture) spend(t *testing.T, keyID string, micros int64) {
	t.Helper()
	tk := f.hold(t, keyID)
	if _, err := tk.Settle(context.Background(), budget.Usage{Input: micros}); err != nil {
		t.Fatalf("Settle(%s): %v", keyID, err)
	}
}

func (f *fixture) totals(t *testing.T, period string, scopes ...usage.Scope) map[usage.Scope]usage.Totals {
	t.Helper()
	got, err := f.store.Totals(context.Background(), period, scopes)
	if err != nil {
		t.Fatalf("Totals: %v", err)
	}
	return got
}

func (f *fixture) list(t *testing.T, period string) map[usage.Scope]usage.Totals {
	t.Helper()
	got, err := f.store.List(context.Background(), period)
	if err != nil {
		t.Fatalf("List: %v", err)
	}
	return got
}

func keyScope(id string) usage.Scope  { return usage.Scope{Kind: usage.KindKey, ID: id} }
func teamScope(id string) usage.Scope { return usage.Scope{Kind: usage.KindTeam, ID: id} }

// asError returns err as a *tollgate.Error, failing the test if it is not one.
func asError(t *testing.T, err error) *tollgate.Error {
	t.Helper()
	var e *tollgate.Error
	if !errors.As(err, &e) {
		t.Fatalf("error %v (%T) is not a *tollgate.Error", err, err)
	}
	return e
}

// ignoreTicketState compares a Ticket's exported fields only.
var ignoreTicketState = cmpopts.IgnoreUnexported(budget.Ticket{})

// uncappedPolicy has no budget anywhere: lab is a team without a cap.
const uncappedPolicy = `
keys:
  - id: solo
    sha256: "#solo"
  - id: member
    sha256: "#member"
    team: lab
teams:
  - id: lab
`

func TestAdmitUncapped(t *testing.T) {
	// 100 input × 1000 + 20 output × 10000 + 1000 cache reads × 100 + 40
	// cache writes × 1250 = 450,000 nano-USD.
	use := budget.Usage{Input: 100, Output: 20, CacheRead: 1000, CacheWrite: 40}
	const cost = 450
	tests := []struct {
		name      string
		key       string
		maxOutput int
		want      *budget.Ticket
		wantSpent []usage.Scope
	}{
		{
			name:      "no team, no max output",
			key:       "solo",
			want:      &budget.Ticket{KeyID: "solo", Period: "2026-11", Price: policy.Price{Input: 1000, Output: 10000, CacheRead: 100, CacheWrite: 1250}},
			wantSpent: []usage.Scope{keyScope("solo")}, // uncapped scopes have no counter
		},
		{
			name:      "team, max output kept",
			key:       "member",
			maxOutput: 300,
			want:      &budget.Ticket{KeyID: "member", TeamID: "lab", Period: "2026-11", Price: policy.Price{Input: 1000, Output: 10000, CacheRead: 100, CacheWrite: 1250}, MaxOutput: 300},
			wantSpent: []usage.Scope{keyScope("member")},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newFixture(t, uncappedPolicy, budget.Options{})
			ctx := context.Background()
			r := f.req(t, tt.key)
			r.InputBytes, r.Images, r.MaxOutput = 1_000_000, 3, tt.maxOutput
			tk, err := f.guard.Admit(ctx, r)
			if err != nil {
				t.Fatalf("Admit: %v", err)
			}
			if diff := cmp.Diff(tt.want, tk, ignoreTicketState); diff != "" {
				t.Errorf("ticket (-want +got):\n%s", diff)
			}
			if n := f.store.reserves.Load(); n != 0 {
				t.Errorf("Admit made %d reservations, want none", n)
			}
			if diff := cmp.Diff(map[usage.Scope]usage.Totals{}, f.list(t, "2026-11")); diff != "" {
				t.Errorf("totals after Admit (-want +got):\n%s", diff)
			}

			got, err := tk.Settle(ctx, use)
			if err != nil {
				t.Fatalf("Settle: %v", err)
			}
			wantSettlement := budget.Settlement{Usage: use, CostMicros: cost, Recorded: true}
			if diff := cmp.Diff(wantSettlement, got); diff != "" {
				t.Errorf("Settle (-want +got):\n%s", diff)
			}
			wantTotals := map[usage.Scope]usage.Totals{}
			for _, s := range tt.wantSpent {
				wantTotals[s] = usage.Totals{Spent: cost}
			}
			if diff := cmp.Diff(wantTotals, f.list(t, "2026-11")); diff != "" {
				t.Errorf("totals after Settle (-want +got):\n%s", diff)
			}

			again, err := tk.Settle(ctx, budget.Usage{Input: 5000})
			if err != nil {
				t.Fatalf("second Settle: %v", err)
			}
			if diff := cmp.Diff(wantSettlement, again); diff != "" {
				t.Errorf("second Settle (-want +got):\n%s", diff)
			}
			if diff := cmp.Diff(wantTotals, f.list(t, "2026-11")); diff != "" {
				t.Errorf("totals after second Settle (-want +got):\n%s", diff)
			}
		})
	}
}

// cappedPolicy caps alice on every scope; carol is only under her team's and
// the global cap; dave has no team.
const cappedPolicy = `
keys:
  - id: alice
    sha256: "#alice"
    team: research
    monthly_budget_usd: 10
  - id: carol
    sha256: "#carol"
    team: research
  - id: dave
    sha256: "#dave"
teams:
  - id: research
    monthly_budget_usd: 50
budget:
  monthly_budget_usd: 100
`

func TestAdmitReservesWorstCase(t *testing.T) {
	tests := []struct {
		name                          string
		key, model                    string
		opts                          budget.Options
		inputBytes, images, maxOutput int
		blocks                        int
		tools, cacheWrite             bool
		wantMaxOutput                 int
		wantReserved                  int64
		use                           budget.Usage
		wantCost                      int64
		wantCharged                   []usage.Scope
	}{
		{
			name: "default max output", key: "alice", model: haiku,
			inputBytes: 1000,
			// 1000 × 1000 + 4096 × 10000 nano
			wantMaxOutput: budget.DefaultMaxOutput, wantReserved: 1000 + 40960,
			// 300×1000 + 50×10000 + 200×100 nano
			use:         budget.Usage{Input: 300, Output: 50, CacheRead: 200},
			wantCost:    820,
			wantCharged: []usage.Scope{keyScope("alice"), teamScope("research"), usage.Global},
		},
		{
			name: "max output from options", key: "alice", model: haiku,
			opts:       budget.Options{MaxOutput: 1000},
			inputBytes: 1000,
			// 1000 × 1000 + 1000 × 10000 nano
			wantMaxOutput: 1000, wantReserved: 1000 + 10000,
			use:         budget.Usage{Input: 1000, Output: 1000},
			wantCost:    1000 + 10000,
			wantCharged: []usage.Scope{keyScope("alice"), teamScope("research"), usage.Global},
		},
		{
			name: "requested max output", key: "alice", model: haiku,
			inputBytes: 1000, maxOutput: 100,
			wantMaxOutput: 100, wantReserved: 1000 + 1000,
			use:         budget.Usage{Input: 10, Output: 1},
			wantCost:    20,
			wantCharged: []usage.Scope{keyScope("alice"), teamScope("research"), usage.Global},
		},
		{
			name: "framing", key: "alice", model: haiku,
			inputBytes: 1000, blocks: 5, maxOutput: 100,
			// (1000 + 16 + 5 × 8) × 1000 + 100 × 10000 nano
			wantMaxOutput: 100, wantReserved: 1056 + 1000,
			use:         budget.Usage{Input: 1056, Output: 100},
			wantCost:    1056 + 1000,
			wantCharged: []usage.Scope{keyScope("alice"), teamScope("research"), usage.Global},
		},
		{
			name: "Claude's tool-use system prompt", key: "alice", model: haiku,
			inputBytes: 1000, blocks: 3, tools: true, maxOutput: 100,
			// (1000 + 16 + 3 × 8 + 530) × 1000 + 100 × 10000 nano
			wantMaxOutput: 100, wantReserved: 1570 + 1000,
			use:         budget.Usage{Input: 1570, Output: 100},
			wantCost:    1570 + 1000,
			wantCharged: []usage.Scope{keyScope("alice"), teamScope("research"), usage.Global},
		},
		{
			name: "another family's tool-use system prompt", key: "alice", model: lean,
			inputBytes: 1000, blocks: 3, tools: true, maxOutput: 100,
			// (1000 + 16 + 3 × 8 + 512) × 1000 + 100 × 10000 nano
			wantMaxOutput: 100, wantReserved: 1552 + 1000,
			use:         budget.Usage{Input: 1552, Output: 100},
			wantCost:    1552 + 1000,
			wantCharged: []usage.Scope{keyScope("alice"), teamScope("research"), usage.Global},
		},
		{
			name: "images", key: "alice", model: haiku,
			inputBytes: 400, images: 2, maxOutput: 50,
			// (400 + 2×1600) × 1000 + 50 × 10000 nano
			wantMaxOutput: 50, wantReserved: 3600 + 500,
			use:         budget.Usage{Input: 3600, Output: 50},
			wantCost:    3600 + 500,
			wantCharged: []usage.Scope{keyScope("alice"), teamScope("research"), usage.Global},
		},
		{
			name: "Nova images", key: "alice", model: lean,
			inputBytes: 400, images: 2, maxOutput: 50,
			// (400 + 2×2600) × 1000 + 50 × 10000 nano
			wantMaxOutput: 50, wantReserved: 5600 + 500,
			use:         budget.Usage{Input: 5600, Output: 50},
			wantCost:    5600 + 500,
			wantCharged: []usage.Scope{keyScope("alice"), teamScope("research"), usage.Global},
		},
		{
			name: "cache points price input at cache writes", key: "alice", model: haiku,
			inputBytes: 1000, cacheWrite: true, maxOutput: 100,
			// 1000 × 1250 + 100 × 10000 nano
			wantMaxOutput: 100, wantReserved: 1250 + 1000,
			// 300×1000 + 50×10000 + 200×100 + 100×1250 nano
			use:         budget.Usage{Input: 300, Output: 50, CacheRead: 200, CacheWrite: 100},
			wantCost:    945,
			wantCharged: []usage.Scope{keyScope("alice"), teamScope("research"), usage.Global},
		},
		{
			name: "rounds up", key: "alice", model: haiku,
			inputBytes: 1, cacheWrite: true, maxOutput: 1,
			// 1 × 1250 = 1,250 nano → 2 micro, + 10
			wantMaxOutput: 1, wantReserved: 12,
			// 1 cache read: 100 nano → 1 micro
			use:         budget.Usage{CacheRead: 1},
			wantCost:    1,
			wantCharged: []usage.Scope{keyScope("alice"), teamScope("research"), usage.Global},
		},
		{
			name: "input price dearer than cache writes", key: "alice", model: lean,
			inputBytes: 1000, cacheWrite: true, maxOutput: 100,
			// 1000 × 1000 + 100 × 10000 nano
			wantMaxOutput: 100, wantReserved: 1000 + 1000,
			// 300×1000 + 50×10000 + 200×500 + 100×500 nano
			use:         budget.Usage{Input: 300, Output: 50, CacheRead: 200, CacheWrite: 100},
			wantCost:    300 + 500 + 100 + 50,
			wantCharged: []usage.Scope{keyScope("alice"), teamScope("research"), usage.Global},
		},
		{
			name: "global cap only", key: "dave", model: haiku,
			inputBytes: 88, maxOutput: 10,
			// 88 × 1000 + 10 × 10000 nano
			wantMaxOutput: 10, wantReserved: 88 + 100,
			use:         budget.Usage{Input: 88, Output: 10},
			wantCost:    188,
			wantCharged: []usage.Scope{keyScope("dave"), usage.Global},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newFixture(t, cappedPolicy, tt.opts)
			ctx := context.Background()
			r := f.reqFor(t, tt.key, tt.model)
			r.InputBytes, r.Images, r.MaxOutput = tt.inputBytes, tt.images, tt.maxOutput
			r.Blocks, r.Tools, r.CacheWrite = tt.blocks, tt.tools, tt.cacheWrite
			tk, err := f.guard.Admit(ctx, r)
			if err != nil {
				t.Fatalf("Admit: %v", err)
			}
			if tk.MaxOutput != tt.wantMaxOutput || tk.Clamped {
				t.Errorf("ticket MaxOutput, Clamped = %d, %v, want %d, false", tk.MaxOutput, tk.Clamped, tt.wantMaxOutput)
			}
			want := map[usage.Scope]usage.Totals{}
			for _, s := range tt.wantCharged {
				want[s] = usage.Totals{Reserved: tt.wantReserved}
			}
			if diff := cmp.Diff(want, f.list(t, "2026-11")); diff != "" {
				t.Errorf("totals after Admit (-want +got):\n%s", diff)
			}

			got, err := tk.Settle(ctx, tt.use)
			if err != nil {
				t.Fatalf("Settle: %v", err)
			}
			if diff := cmp.Diff(budget.Settlement{Usage: tt.use, CostMicros: tt.wantCost, Recorded: true}, got); diff != "" {
				t.Errorf("Settle (-want +got):\n%s", diff)
			}
			for _, s := range tt.wantCharged {
				want[s] = usage.Totals{Spent: tt.wantCost}
			}
			if diff := cmp.Diff(want, f.list(t, "2026-11")); diff != "" {
				t.Errorf("totals after Settle (-want +got):\n%s", diff)
			}
		})
	}
}

// TestAdmitRefusesOverCap refuses a request of 1,000 input tokens and
// 4,096 output tokens at most: $0.041960 at haiku's prices. The refusal
// says "exhausted" only when nothing is left; otherwise it says what is
// left, what the request could cost and what would fit, and of a shared
// scope it shows only what is left, rounded down to the cent.
func TestAdmitRefusesOverCap(t *testing.T) {
	const reset = " It resets on 2026-12-01 00:00 UTC."
	const keyCap = `
keys:
  - id: alice
    sha256: "#alice"
    team: research
    monthly_budget_usd: 1
teams:
  - id: research
    monthly_budget_usd: 50
budget:
  monthly_budget_usd: 100
`
	tests := []struct {
		name    string
		policy  string
		setup   func(t *testing.T, f *fixture)
		key     string
		input   int // bytes; 1,000 when 0
		wantMsg string
	}{
		{
			name:    "key cap, output does not fit",
			policy:  keyCap,
			setup:   func(t *testing.T, f *fixture) { f.spend(t, "alice", 998_000) },
			key:     "alice",
			wantMsg: "This request could cost up to $0.041960 (1000 input and 4096 output tokens at most), more than the $0.002000 left of your API key's monthly budget ($0.998000 spent of $1.00 in 2026-11). Set max_tokens (or max_completion_tokens) to 100 or less, or shorten the prompt." + reset,
		},
		{
			name:   "key cap with a request in flight",
			policy: keyCap,
			setup: func(t *testing.T, f *fixture) {
				f.hold(t, "alice")
				f.spend(t, "alice", 997_000)
			},
			key: "alice",
			// (1,000,000 - 997,000 - 34 - 1,000) / 10 = 196 output tokens fit
			wantMsg: "This request could cost up to $0.041960 (1000 input and 4096 output tokens at most), more than the $0.002966 left of your API key's monthly budget ($0.997000 spent of $1.00 in 2026-11, $0.000034 held by requests in flight). Set max_tokens (or max_completion_tokens) to 196 or less, or shorten the prompt." + reset,
		},
		{
			name:    "key cap, input does not fit",
			policy:  keyCap,
			setup:   func(t *testing.T, f *fixture) { f.spend(t, "alice", 999_500) },
			key:     "alice",
			wantMsg: "This request could cost up to $0.041960 (1000 input and 4096 output tokens at most), more than the $0.000500 left of your API key's monthly budget ($0.999500 spent of $1.00 in 2026-11). Its input alone could cost up to $0.001000: shorten the prompt (fewer or shorter messages, images, documents or tools)." + reset,
		},
		{
			name:    "key cap exhausted",
			policy:  keyCap,
			setup:   func(t *testing.T, f *fixture) { f.spend(t, "alice", 1_000_000) },
			key:     "alice",
			wantMsg: "Your API key's monthly budget is exhausted: $1.00 spent of $1.00 in 2026-11." + reset,
		},
		{
			name:   "key cap exhausted by requests in flight",
			policy: keyCap,
			setup: func(t *testing.T, f *fixture) {
				f.hold(t, "alice")
				f.spend(t, "alice", 1_000_000-holdCost)
			},
			key:     "alice",
			wantMsg: "Your API key's monthly budget is exhausted: $0.999966 spent of $1.00 in 2026-11 ($0.000034 more is held by requests in flight)." + reset,
		},
		{
			name: "team cap",
			policy: `
keys:
  - id: bob
    sha256: "#bob"
    team: research
  - id: carol
    sha256: "#carol"
    team: research
teams:
  - id: research
    monthly_budget_usd: 1
`,
			setup: func(t *testing.T, f *fixture) {
				f.hold(t, "carol")
				f.spend(t, "carol", 970_000)
			},
			key:   "bob",
			input: 40_000,
			// 29,966 micro left, shown as $0.02
			wantMsg: `This request could cost up to $0.080960 (40000 input and 4096 output tokens at most), more than what is left of your team "research"'s monthly budget (about $0.02, rounded down to the cent). Its input alone could cost up to $0.04: shorten the prompt (fewer or shorter messages, images, documents or tools).` + reset,
		},
		{
			name: "team cap, less than a cent left",
			policy: `
keys:
  - id: bob
    sha256: "#bob"
    team: research
  - id: carol
    sha256: "#carol"
    team: research
teams:
  - id: research
    monthly_budget_usd: 1
`,
			setup:   func(t *testing.T, f *fixture) { f.spend(t, "carol", 998_000) },
			key:     "bob",
			wantMsg: `This request could cost up to $0.041960 (1000 input and 4096 output tokens at most), more than what is left of your team "research"'s monthly budget (less than $0.01). Shorten the prompt or lower max_tokens.` + reset,
		},
		{
			name: "team cap exhausted",
			policy: `
keys:
  - id: bob
    sha256: "#bob"
    team: research
  - id: carol
    sha256: "#carol"
    team: research
teams:
  - id: research
    monthly_budget_usd: 1
`,
			setup:   func(t *testing.T, f *fixture) { f.spend(t, "carol", 1_000_000) },
			key:     "bob",
			wantMsg: `Your team "research"'s monthly budget of $1.00 is exhausted for 2026-11.` + reset,
		},
		{
			name: "global cap tightest",
			policy: `
keys:
  - id: alice
    sha256: "#alice"
    team: research
    monthly_budget_usd: 2
  - id: dave
    sha256: "#dave"
teams:
  - id: research
    monthly_budget_usd: 50
budget:
  monthly_budget_usd: 3
`,
			setup: func(t *testing.T, f *fixture) {
				// alice's key has 10,000 left, too little too, but the
				// gateway has nothing left.
				f.spend(t, "alice", 1_990_000)
				f.spend(t, "dave", 1_010_000)
			},
			key:     "alice",
			wantMsg: "The gateway's total monthly budget of $3.00 is exhausted for 2026-11." + reset,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newFixture(t, tt.policy, budget.Options{})
			tt.setup(t, f)
			scopes := []usage.Scope{keyScope(tt.key), teamScope("research"), usage.Global}
			before := f.totals(t, "2026-11", scopes...)

			r := f.req(t, tt.key)
			r.InputBytes = 1000
			if tt.input > 0 {
				r.InputBytes = tt.input
			}
			tk, err := f.guard.Admit(context.Background(), r)
			if err == nil {
				t.Fatalf("Admit admitted (MaxOutput %d, Clamped %v), want a refusal", tk.MaxOutput, tk.Clamped)
			}
			want := &tollgate.Error{Kind: tollgate.QuotaExceeded, Code: "budget_exceeded", Message: tt.wantMsg}
			if diff := cmp.Diff(want, asError(t, err)); diff != "" {
				t.Errorf("error (-want +got):\n%s", diff)
			}
			if diff := cmp.Diff(before, f.totals(t, "2026-11", scopes...)); diff != "" {
				t.Errorf("totals changed by the refusal (-before +after):\n%s", diff)
			}
		})
	}
}

// TestRefusalSuggestionFits follows the refusal's advice: the max_tokens it
// names is admitted.
func TestRefusalSuggestionFits(t *testing.T) {
	f := newFixture(t, "keys:\n  - id: alice\n    sha256: \"#alice\"\n    monthly_budget_usd: 1\n", budget.Options{})
	f.spend(t, "alice", 998_000)
	r := f.req(t, "alice")
	r.InputBytes, r.Blocks = 1000, 2
	_, err := f.guard.Admit(context.Background(), r)
	m := regexp.MustCompile(`max_tokens \(or max_completion_tokens\) to (\d+) or less`).FindStringSubmatch(asError(t, err).Message)
	if m == nil {
		t.Fatalf("refusal %q names no max_tokens", asError(t, err).Message)
	}
	var fit int
	fmt.Sscan(m[1], &fit)
	r = f.req(t, "alice")
	r.InputBytes, r.Blocks, r.MaxOutput = 1000, 2, fit
	tk, err := f.guard.Admit(context.Background(), r)
	if err != nil {
		t.Fatalf("Admit with max_tokens %d, as the refusal advised: %v", fit, err)
	}
	if tk.MaxOutput != fit || tk.Clamped {
		t.Errorf("ticket MaxOutput, Clamped = %d, %v, want %d, false", tk.MaxOutput, tk.Clamped, fit)
	}
}

func TestAdmitCountsPrecisely(t *testing.T) {
	text := strings.Repeat("The quick brown fox jumps over the lazy dog. ", 400)
	var counter tokens.Counter
	precise := int64(counter.Count(text))
	// 100 output tokens cost 1,000 micro; input costs 1 micro a token, and
	// one message's framing is 16 + 8 tokens.
	bound := policy.Price{Input: 1000, Output: 10000}.Cost(int64(len(text))+24, 100, 0, 0)
	counted := policy.Price{Input: 1000, Output: 10000}.Cost(precise+24, 100, 0, 0)
	const tightCap = 12_000 // $0.012
	if !(counted <= tightCap && tightCap < bound) {
		t.Fatalf("bad fixture: the tight cap %d must lie in [%d, %d)", tightCap, counted, bound)
	}
	const policyYAML = `
keys:
  - id: rich
    sha256: "#rich"
    monthly_budget_usd: 100
  - id: tight
    sha256: "#tight"
    monthly_budget_usd: 0.012
`
	tests := []struct {
		name         string
		key          string
		wantCalls    int
		wantReserved int64
	}{
		{name: "bound fits", key: "rich", wantCalls: 0, wantReserved: bound},
		{name: "only the count fits", key: "tight", wantCalls: 1, wantReserved: counted},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newFixture(t, policyYAML, budget.Options{})
			calls := 0
			r := f.req(t, tt.key)
			r.InputBytes, r.MaxOutput, r.Blocks = len(text), 100, 1
			r.Texts = func() []string { calls++; return []string{text} }
			tk, err := f.guard.Admit(context.Background(), r)
			if err != nil {
				t.Fatalf("Admit: %v", err)
			}
			if tk.MaxOutput != 100 || tk.Clamped {
				t.Errorf("ticket MaxOutput, Clamped = %d, %v, want 100, false", tk.MaxOutput, tk.Clamped)
			}
			if calls != tt.wantCalls {
				t.Errorf("Texts called %d times, want %d", calls, tt.wantCalls)
			}
			want := map[usage.Scope]usage.Totals{keyScope(tt.key): {Reserved: tt.wantReserved}}
			if diff := cmp.Diff(want, f.list(t, "2026-11")); diff != "" {
				t.Errorf("totals (-want +got):\n%s", diff)
			}
		})
	}
}

func TestAdmitClamps(t *testing.T) {
	// Every request reads 1,000 bytes: 1,000 micro of input at lean's
	// prices, then 10 micro per output token.
	tests := []struct {
		name          string
		capUSD        string
		opts          budget.Options
		maxOutput     int
		wantMaxOutput int // 0: refused
		wantReserved  int64
	}{
		{name: "clamps the requested max", capUSD: "0.02", maxOutput: 4096, wantMaxOutput: 1900, wantReserved: 20_000},
		{name: "clamps the default max", capUSD: "0.02", wantMaxOutput: 1900, wantReserved: 20_000},
		{name: "rounds down", capUSD: "0.020009", maxOutput: 4096, wantMaxOutput: 1900, wantReserved: 20_000},
		{name: "exactly MinOutput", capUSD: "0.00356", maxOutput: 4096, wantMaxOutput: 256, wantReserved: 3_560},
		{name: "below MinOutput", capUSD: "0.003559", maxOutput: 4096},
		{name: "MinOutput from options", capUSD: "0.0016", opts: budget.Options{MinOutput: 50}, maxOutput: 4096, wantMaxOutput: 60, wantReserved: 1_600},
		{name: "below a requested max under MinOutput", capUSD: "0.00199", maxOutput: 100},
		{name: "no room for the input", capUSD: "0.0009", maxOutput: 4096},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newFixture(t, "keys:\n  - id: alice\n    sha256: \"#alice\"\n    monthly_budget_usd: "+tt.capUSD+"\n", tt.opts)
			r := f.reqFor(t, "alice", lean)
			r.InputBytes, r.MaxOutput = 1000, tt.maxOutput
			tk, err := f.guard.Admit(context.Background(), r)
			if tt.wantMaxOutput == 0 {
				if err == nil {
					t.Fatalf("Admit admitted (MaxOutput %d, Clamped %v), want a refusal", tk.MaxOutput, tk.Clamped)
				}
				if e := asError(t, err); e.Kind != tollgate.QuotaExceeded || e.Code != "budget_exceeded" {
					t.Errorf("error kind, code = %v, %q, want QuotaExceeded, budget_exceeded", e.Kind, e.Code)
				}
			} else {
				if err != nil {
					t.Fatalf("Admit: %v", err)
				}
				if tk.MaxOutput != tt.wantMaxOutput || !tk.Clamped {
					t.Errorf("ticket MaxOutput, Clamped = %d, %v, want %d, true", tk.MaxOutput, tk.Clamped, tt.wantMaxOutput)
				}
			}
			want := map[usage.Scope]usage.Totals{keyScope("alice"): {Reserved: tt.wantReserved}}
			if diff := cmp.Diff(want, f.totals(t, "2026-11", keyScope("alice"))); diff != "" {
				t.Errorf("totals (-want +got):\n%s", diff)
			}
		})
	}
}

// TestAdmitClampsAtCacheWritePrice clamps a model whose cache writes cost
// more than its input, as every Claude model's do: the worst case of a
// request with cache points prices the input at the cache-write price, so
// the clamp must leave room for that; without cache points it need not.
func TestAdmitClampsAtCacheWritePrice(t *testing.T) {
	tests := []struct {
		name          string
		cacheWrite    bool
		wantMaxOutput int
	}{
		// (20,000 - 1,000 × 1.25) / 10
		{name: "cache points", cacheWrite: true, wantMaxOutput: 1875},
		// (20,000 - 1,000 × 1) / 10
		{name: "no cache points", cacheWrite: false, wantMaxOutput: 1900},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newFixture(t, "keys:\n  - id: alice\n    sha256: \"#alice\"\n    monthly_budget_usd: 0.02\n", budget.Options{})
			r := f.req(t, "alice") // haiku: input 1 micro, cache writes 1.25 micro
			r.InputBytes, r.MaxOutput, r.CacheWrite = 1000, 4096, tt.cacheWrite
			tk, err := f.guard.Admit(context.Background(), r)
			if err != nil {
				t.Fatalf("Admit: %v; want it clamped to %d output tokens", err, tt.wantMaxOutput)
			}
			if tk.MaxOutput != tt.wantMaxOutput || !tk.Clamped {
				t.Errorf("ticket MaxOutput, Clamped = %d, %v, want %d, true", tk.MaxOutput, tk.Clamped, tt.wantMaxOutput)
			}
			want := map[usage.Scope]usage.Totals{keyScope("alice"): {Reserved: 20_000}}
			if diff := cmp.Diff(want, f.totals(t, "2026-11", keyScope("alice"))); diff != "" {
				t.Errorf("totals (-want +got):\n%s", diff)
			}
		})
	}
}

func TestAdmitStoreFailure(t *testing.T) {
	const policyYAML = `
keys:
  - id: alice
    sha256: "#alice"
    monthly_budget_usd: 10
  - id: solo
    sha256: "#solo"
`
	down := fmt.Errorf("dynamodb: connection refused: %w", usage.ErrUnavailable)
	tests := []struct {
		name       string
		key        string
		reserveErr error
		failOpen   bool
		wantErr    *tollgate.Error // Cause and RetryAfter checked apart; nil: admitted
	}{
		{
			name: "fails closed", key: "alice", reserveErr: down,
			wantErr: &tollgate.Error{Kind: tollgate.Unavailable, Code: "budget_store_unavailable",
				Message: "The gateway cannot check your budget right now, so it refuses budgeted requests until it can. Try again shortly."},
		},
		{name: "fails open", key: "alice", reserveErr: down, failOpen: true},
		{name: "uncapped key never reserves", key: "solo", reserveErr: down},
		{
			name: "other store errors are internal", key: "alice", reserveErr: errors.New("boom"), failOpen: true,
			wantErr: &tollgate.Error{Kind: tollgate.Internal, Message: "The gateway could not reserve your request's budget."},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newFixture(t, policyYAML, budget.Options{FailOpen: tt.failOpen})
			f.store.reserveErr = tt.reserveErr
			r := f.req(t, tt.key)
			r.InputBytes = 1000
			tk, err := f.guard.Admit(context.Background(), r)
			if tt.wantErr != nil {
				if err == nil {
					t.Fatal("Admit admitted, want an error")
				}
				e := asError(t, err)
				if diff := cmp.Diff(tt.wantErr, e, cmpopts.IgnoreFields(tollgate.Error{}, "Cause", "RetryAfter")); diff != "" {
					t.Errorf("error (-want +got):\n%s", diff)
				}
				if !errors.Is(err, tt.reserveErr) {
					t.Errorf("error %v does not wrap the store's %v", err, tt.reserveErr)
				}
				if got, wantRetry := e.RetryAfter > 0, tt.wantErr.Kind == tollgate.Unavailable; got != wantRetry {
					t.Errorf("RetryAfter = %v, want positive: %v", e.RetryAfter, wantRetry)
				}
				return
			}
			if err != nil {
				t.Fatalf("Admit: %v", err)
			}
			// Admitted without a hold, the spend is still recorded once the
			// store answers.
			f.store.reserveErr = nil
			if _, err := tk.Settle(context.Background(), budget.Usage{Input: 70, Output: 3}); err != nil {
				t.Fatalf("Settle: %v", err)
			}
			want := map[usage.Scope]usage.Totals{keyScope(tt.key): {Spent: 100}}
			if diff := cmp.Diff(want, f.list(t, "2026-11")); diff != "" {
				t.Errorf("totals after Settle (-want +got):\n%s", diff)
			}
		})
	}
}

func TestAdmitUnpricedRoute(t *testing.T) {
	const policyYAML = `
keys:
  - id: alice
    sha256: "#alice"
    monthly_budget_usd: 10
  - id: solo
    sha256: "#solo"
`
	unpriced := policy.Route{Requested: "mystery", ModelID: "mystery.model-v1:0"}
	tests := []struct {
		name    string
		key     string
		wantErr *tollgate.Error
	}{
		{
			name: "capped key refused", key: "alice",
			wantErr: &tollgate.Error{Kind: tollgate.PermissionDenied, Code: "model_not_priced", Param: "model",
				Message: `The model "mystery" has no price, so a budgeted key cannot use it. Ask your Tollgate administrator to add it to the policy's pricing.`},
		},
		{name: "uncapped key admitted", key: "solo"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newFixture(t, policyYAML, budget.Options{})
			r := f.req(t, tt.key)
			r.Route, r.InputBytes = unpriced, 1000
			tk, err := f.guard.Admit(context.Background(), r)
			if tt.wantErr == nil {
				if err != nil {
					t.Fatalf("Admit: %v", err)
				}
				if got, err := tk.Settle(context.Background(), budget.Usage{Input: 10, Output: 10}); err != nil || got.CostMicros != 0 {
					t.Errorf("Settle = %+v, %v, want a cost of 0", got, err)
				}
				return
			}
			if diff := cmp.Diff(tt.wantErr, asError(t, err)); diff != "" {
				t.Errorf("error (-want +got):\n%s", diff)
			}
			if n := f.store.reserves.Load(); n != 0 {
				t.Errorf("Admit made %d reservations, want none", n)
			}
		})
	}
}

func TestPeriod(t *testing.T) {
	plus2 := time.FixedZone("UTC+2", 2*60*60)
	minus5 := time.FixedZone("UTC-5", -5*60*60)
	tests := []struct {
		in       time.Time
		want     string
		wantNext time.Time
	}{
		{time.Date(2026, 11, 1, 0, 0, 0, 0, time.UTC), "2026-11", time.Date(2026, 12, 1, 0, 0, 0, 0, time.UTC)},
		{time.Date(2026, 11, 30, 23, 59, 59, 999_999_999, time.UTC), "2026-11", time.Date(2026, 12, 1, 0, 0, 0, 0, time.UTC)},
		{time.Date(2026, 12, 1, 0, 0, 0, 0, time.UTC), "2026-12", time.Date(2027, 1, 1, 0, 0, 0, 0, time.UTC)},
		{time.Date(2026, 12, 31, 23, 59, 59, 0, time.UTC), "2026-12", time.Date(2027, 1, 1, 0, 0, 0, 0, time.UTC)},
		{time.Date(2028, 2, 29, 12, 0, 0, 0, time.UTC), "2028-02", time.Date(2028, 3, 1, 0, 0, 0, 0, time.UTC)},
		// Local midnight of December 1st is still November in UTC.
		{time.Date(2026, 12, 1, 1, 0, 0, 0, plus2), "2026-11", time.Date(2026, 12, 1, 0, 0, 0, 0, time.UTC)},
		// Local evening of November 30th is already December in UTC.
		{time.Date(2026, 11, 30, 19, 0, 0, 0, minus5), "2026-12", time.Date(2027, 1, 1, 0, 0, 0, 0, time.UTC)},
	}
	for _, tt := range tests {
		if got := budget.Period(tt.in); got != tt.want {
			t.Errorf("Period(%v) = %q, want %q", tt.in, got, tt.want)
		}
		got := budget.NextPeriod(tt.in)
		if !got.Equal(tt.wantNext) || got.Location() != time.UTC {
			t.Errorf("NextPeriod(%v) = %v, want %v", tt.in, got, tt.wantNext)
		}
	}
}

func TestAdmitMonthRollover(t *testing.T) {
	const policyYAML = `
keys:
  - id: alice
    sha256: "#alice"
    monthly_budget_usd: 1
`
	f := newFixture(t, policyYAML, budget.Options{})
	ctx := context.Background()
	alice := []usage.Scope{keyScope("alice")}
	f.clock.Set(time.Date(2026, 11, 30, 23, 59, 59, 0, time.UTC))

	late := f.hold(t, "alice") // admitted in November, settled in December
	f.spend(t, "alice", 1_000_000-holdCost)
	r := f.req(t, "alice")
	r.MaxOutput = 1
	_, err := f.guard.Admit(ctx, r)
	want := &tollgate.Error{Kind: tollgate.QuotaExceeded, Code: "budget_exceeded",
		Message: "Your API key's monthly budget is exhausted: $0.999966 spent of $1.00 in 2026-11 ($0.000034 more is held by requests in flight). It resets on 2026-12-01 00:00 UTC."}
	if diff := cmp.Diff(want, asError(t, err)); diff != "" {
		t.Fatalf("Admit at the cap (-want +got):\n%s", diff)
	}

	f.clock.Set(time.Date(2026, 12, 1, 0, 0, 0, 0, time.UTC))
	r = f.req(t, "alice")
	r.Blocks, r.MaxOutput = 1, 1
	tk, err := f.guard.Admit(ctx, r)
	if err != nil {
		t.Fatalf("Admit in the new period: %v", err)
	}
	if tk.Period != "2026-12" {
		t.Errorf("new ticket's Period = %q, want 2026-12", tk.Period)
	}
	if late.Period != "2026-11" {
		t.Errorf("late ticket's Period = %q, want 2026-11", late.Period)
	}
	if _, err := late.Settle(ctx, budget.Usage{Input: 300}); err != nil {
		t.Fatalf("Settle after the rollover: %v", err)
	}
	tests := []struct {
		period string
		want   usage.Totals
	}{
		{"2026-11", usage.Totals{Spent: 1_000_000 - holdCost + 300}},
		{"2026-12", usage.Totals{Reserved: holdCost}},
	}
	for _, tt := range tests {
		want := map[usage.Scope]usage.Totals{alice[0]: tt.want}
		if diff := cmp.Diff(want, f.totals(t, tt.period, alice...)); diff != "" {
			t.Errorf("totals of %s (-want +got):\n%s", tt.period, diff)
		}
	}
	st, err := f.guard.Status(ctx, f.pol, r.Key)
	if err != nil {
		t.Fatalf("Status: %v", err)
	}
	wantStatus := budget.Status{Period: "2026-12", Key: budget.ScopeStatus{Limit: 1_000_000, Reserved: holdCost,
		Periods: []budget.PeriodStatus{{Kind: budget.Monthly, Period: "2026-12", Limit: 1_000_000, Reserved: holdCost}}}}
	if diff := cmp.Diff(wantStatus, st); diff != "" {
		t.Errorf("Status in the new period (-want +got):\n%s", diff)
	}
}

func TestStatus(t *testing.T) {
	const withGlobal = `
keys:
  - id: alice
    sha256: "#alice"
    team: research
    monthly_budget_usd: 1
  - id: carol
    sha256: "#carol"
    team: lab
  - id: dave
    sha256: "#dave"
    monthly_budget_usd: 5
teams:
  - id: research
    monthly_budget_usd: 50
  - id: lab
budget:
  monthly_budget_usd: 100
`
	const noGlobal = `
keys:
  - id: solo
    sha256: "#solo"
    monthly_budget_usd: 1
  - id: free
    sha256: "#free"
`
	// In both policies: a request in flight on the first key, which has
	// spent more than its cap, and some spend on another.
	setup := func(t *testing.T, f *fixture, first, other string) {
		f.hold(t, first)
		f.spend(t, first, 1_200_000)
		f.spend(t, other, 300)
	}
	tests := []struct {
		name          string
		policy        string
		first, other  string
		key           string
		want          budget.Status
		wantRemaining int64 // of the key's scope
	}{
		{
			name: "key, team and global caps", policy: withGlobal, first: "alice", other: "dave", key: "alice",
			want: budget.Status{
				Period: "2026-11",
				Key:    budget.ScopeStatus{Limit: 1_000_000, Spent: 1_200_000, Reserved: holdCost},
				Team:   &budget.ScopeStatus{ID: "research", Limit: 50_000_000, Spent: 1_200_000, Reserved: holdCost},
				Global: &budget.ScopeStatus{Limit: 100_000_000, Spent: 1_200_300, Reserved: holdCost},
			},
			wantRemaining: 0,
		},
		{
			name: "uncapped team", policy: withGlobal, first: "alice", other: "carol", key: "carol",
			want: budget.Status{
				Period: "2026-11",
				Key:    budget.ScopeStatus{Limit: usage.Uncapped, Spent: 300},
				Team:   &budget.ScopeStatus{ID: "lab", Limit: usage.Uncapped, Spent: 300},
				Global: &budget.ScopeStatus{Limit: 100_000_000, Spent: 1_200_300, Reserved: holdCost},
			},
			wantRemaining: 0,
		},
		{
			name: "no team", policy: withGlobal, first: "alice", other: "dave", key: "dave",
			want: budget.Status{
				Period: "2026-11",
				Key:    budget.ScopeStatus{Limit: 5_000_000, Spent: 300},
				Global: &budget.ScopeStatus{Limit: 100_000_000, Spent: 1_200_300, Reserved: holdCost},
			},
			wantRemaining: 4_999_700,
		},
		{
			name: "no global cap", policy: noGlobal, first: "solo", other: "free", key: "solo",
			want: budget.Status{
				Period: "2026-11",
				Key:    budget.ScopeStatus{Limit: 1_000_000, Spent: 1_200_000, Reserved: holdCost},
			},
			wantRemaining: 0,
		},
		{
			name: "no cap at all", policy: noGlobal, first: "solo", other: "free", key: "free",
			want: budget.Status{
				Period: "2026-11",
				Key:    budget.ScopeStatus{Limit: usage.Uncapped, Spent: 300},
			},
			wantRemaining: 0,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newFixture(t, tt.policy, budget.Options{})
			setup(t, f, tt.first, tt.other)
			k, _ := f.pol.KeyByID(tt.key)
			got, err := f.guard.Status(context.Background(), f.pol, k)
			if err != nil {
				t.Fatalf("Status: %v", err)
			}
			// The periods are TestStatusPeriods'.
			if diff := cmp.Diff(tt.want, got, cmpopts.IgnoreFields(budget.ScopeStatus{}, "Periods")); diff != "" {
				t.Errorf("Status (-want +got):\n%s", diff)
			}
			if r := got.Key.Remaining(); r != tt.wantRemaining {
				t.Errorf("Key.Remaining() = %d, want %d", r, tt.wantRemaining)
			}
		})
	}
}

func TestScopeStatusRemaining(t *testing.T) {
	tests := []struct {
		s    budget.ScopeStatus
		want int64
	}{
		{budget.ScopeStatus{Limit: 1000}, 1000},
		{budget.ScopeStatus{Limit: 1000, Spent: 300, Reserved: 200}, 500},
		{budget.ScopeStatus{Limit: 1000, Spent: 600, Reserved: 400}, 0},
		{budget.ScopeStatus{Limit: 1000, Spent: 900, Reserved: 400}, 0},
		{budget.ScopeStatus{Limit: 1000, Spent: 1500}, 0},
		{budget.ScopeStatus{Limit: 0}, 0},
	}
	for _, tt := range tests {
		if got := tt.s.Remaining(); got != tt.want {
			t.Errorf("%+v.Remaining() = %d, want %d", tt.s, got, tt.want)
		}
	}
}

func TestEstimate(t *testing.T) {
	g := budget.New(memory.New(), budget.Options{})
	var counter tokens.Counter
	text := "The quick brown fox jumps over the lazy dog."
	tests := []struct {
		name        string
		model       string
		texts       []string
		images      int
		documents   int
		blocks      int
		tools       bool
		outputBytes int
		want        budget.Usage
	}{
		{name: "nothing", want: budget.Usage{Estimated: true}},
		{name: "one output byte", outputBytes: 1, want: budget.Usage{Output: 1, Estimated: true}},
		{name: "four output bytes", outputBytes: 4, want: budget.Usage{Output: 1, Estimated: true}},
		{name: "five output bytes", outputBytes: 5, want: budget.Usage{Output: 2, Estimated: true}},
		{name: "texts", texts: []string{text, "hello world"}, outputBytes: 4000,
			want: budget.Usage{Input: int64(counter.Count(text, "hello world")), Output: 1000, Estimated: true}},
		{name: "images", model: haiku, texts: []string{text}, images: 2, outputBytes: 401,
			want: budget.Usage{Input: int64(counter.Count(text)) + 2*1600, Output: 101, Estimated: true}},
		{name: "Llama images", model: "meta.llama3-2-90b-instruct-v1:0", images: 1,
			want: budget.Usage{Input: 6404, Estimated: true}},
		{name: "framing, tools, documents", model: haiku, texts: []string{text}, documents: 5000, blocks: 4, tools: true,
			want: budget.Usage{Input: int64(counter.Count(text)) + 5000 + 16 + 4*8 + 530, Estimated: true}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := budget.Request{Route: policy.Route{ModelID: tt.model}, Images: tt.images, DocumentTokens: tt.documents, Blocks: tt.blocks, Tools: tt.tools,
				Texts: func() []string { return tt.texts }}
			got := g.Estimate(r, tt.outputBytes)
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("Estimate (-want +got):\n%s", diff)
			}
		})
	}
}

// TestAdmitSettleConcurrent races many requests against one key cap. Each
// admitted request settles at most its worst case, so:
//   - settled spend never passes the cap;
//   - every hold is released;
//   - a refusal means the committed total was above cap - worstCase, and
//     each admitted request commits at most worstCase, so more than
//     cap/worstCase - 1 requests had been admitted by then: at least
//     floor(cap/worstCase) are admitted in all.
func TestAdmitSettleConcurrent(t *testing.T) {
	const (
		goroutines = 200
		inputBytes = 2000
		maxOutput  = 500
		// (2000 + 16 + 8) × 1.25 + 500 × 10 micro-USD
		worstCase = 2530 + 5000
		limit     = 410_000 // $0.41: 54.5 worst cases
	)
	f := newFixture(t, `
keys:
  - id: alice
    sha256: "#alice"
    monthly_budget_usd: 0.41
`, budget.Options{})
	ctx := context.Background()
	reqs := make([]budget.Request, goroutines)
	for i := range reqs {
		reqs[i] = f.req(t, "alice")
		reqs[i].InputBytes, reqs[i].MaxOutput = inputBytes, maxOutput
		reqs[i].Blocks, reqs[i].CacheWrite = 1, true
	}
	var (
		admitted, spent atomic.Int64
		wg              sync.WaitGroup
		start           = make(chan struct{})
		errs            = make(chan error, goroutines)
	)
	for i, r := range reqs {
		wg.Go(func() {
			<-start
			tk, err := f.guard.Admit(ctx, r)
			if err != nil {
				if asQuota(err) == nil {
					errs <- fmt.Errorf("Admit %s: %w", r.ID, err)
				}
				return
			}
			admitted.Add(1)
			// Any usage within the worst case: input and cache writes up
			// to the input bound, output up to the ticket's cap.
			rnd := rand.New(rand.NewPCG(uint64(i), 1))
			in := rnd.Int64N(inputBytes + 24 + 1)
			write := rnd.Int64N(in + 1)
			u := budget.Usage{Input: in - write, CacheWrite: write, Output: rnd.Int64N(int64(tk.MaxOutput) + 1)}
			s, err := tk.Settle(ctx, u)
			if err != nil {
				errs <- fmt.Errorf("Settle %s: %w", r.ID, err)
				return
			}
			if s.CostMicros > worstCase {
				errs <- fmt.Errorf("bad fixture: %s cost %d, above the worst case %d", r.ID, s.CostMicros, worstCase)
			}
			spent.Add(s.CostMicros)
		})
	}
	close(start)
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}

	got := f.totals(t, "2026-11", keyScope("alice"))[keyScope("alice")]
	if got.Spent > limit || got.Reserved != 0 || got.Spent != spent.Load() {
		t.Errorf("totals = %+v, want Spent = %d settled (at most %d) and Reserved = 0", got, spent.Load(), limit)
	}
	if n, least := admitted.Load(), int64(limit/worstCase); n < least {
		t.Errorf("admitted %d of %d, want at least %d", n, goroutines, least)
	}
	t.Logf("admitted %d of %d, spent %d of %d", admitted.Load(), goroutines, got.Spent, limit)
}

// asQuota returns err as a QuotaExceeded *tollgate.Error, or nil.
func asQuota(err error) *tollgate.Error {
	var e *tollgate.Error
	if errors.As(err, &e) && e.Kind == tollgate.QuotaExceeded {
		return e
	}
	return nil
}

func TestUSD(t *testing.T) {
	tests := []struct {
		micros int64
		want   string
	}{
		{0, "$0.00"},
		{1, "$0.000001"},
		{650, "$0.000650"},
		{5_000, "$0.005000"},
		{10_000, "$0.01"},
		{998_000, "$0.998000"},
		{1_000_000, "$1.00"},
		{1_230_000, "$1.23"},
		{1_234_567, "$1.234567"},
		{20_000_000, "$20.00"},
		{100_050_000, "$100.05"},
		{999_999_999_999_999, "$999999999.999999"},
		{1_000_000_000_000_000, "$1000000000.00"},
	}
	for _, tt := range tests {
		if got := budget.USD(tt.micros); got != tt.want {
			t.Errorf("USD(%d) = %q, want %q", tt.micros, got, tt.want)
		}
	}
}

// TestExhaustedKeyRefusedBeforeWork: a key with nothing left (a $0 budget,
// or spent out) is refused without its texts being counted, and Exhausted
// tells it from the store alone, before the body is even parsed (issue 13,
// point 3a: counting 80 KB took seconds of CPU from a $0 key).
func TestExhaustedKeyRefusedBeforeWork(t *testing.T) {
	const policyYAML = `
keys:
  - id: zero
    sha256: "#zero"
    monthly_budget_usd: 0
  - id: spent
    sha256: "#spent"
    monthly_budget_usd: 1
  - id: member
    sha256: "#member"
    team: broke
  - id: nearly
    sha256: "#nearly"
    monthly_budget_usd: 0.01
  - id: free
    sha256: "#free"
teams:
  - id: broke
    monthly_budget_usd: 0
`
	tests := []struct {
		key           string
		wantExhausted bool
		wantCount     bool // Admit counts the texts before deciding
	}{
		{key: "zero", wantExhausted: true},
		{key: "spent", wantExhausted: true},
		{key: "member", wantExhausted: true},
		// $0.01 left: not exhausted, so the texts are counted before
		// refusing (their count is bounded: tokens.PreciseBytes).
		{key: "nearly", wantCount: true},
		{key: "free"},
	}
	for _, tt := range tests {
		t.Run(tt.key, func(t *testing.T) {
			f := newFixture(t, policyYAML, budget.Options{})
			f.spend(t, "spent", 1_000_000)
			k, _ := f.pol.KeyByID(tt.key)

			err := f.guard.Exhausted(context.Background(), f.pol, k)
			if tt.wantExhausted {
				if e := asQuota(err); e == nil || e.Code != "budget_exceeded" {
					t.Errorf("Exhausted = %v, want a 429 budget_exceeded", err)
				}
			} else if err != nil {
				t.Errorf("Exhausted = %v, want nil", err)
			}

			counted := false
			text := strings.Repeat("=", 80_000)
			r := f.req(t, tt.key)
			r.InputBytes, r.MaxOutput = len(text), 1000
			r.Texts = func() []string { counted = true; return []string{text} }
			_, err = f.guard.Admit(context.Background(), r)
			if tt.key == "free" {
				if err != nil {
					t.Fatalf("Admit(free) = %v", err)
				}
				return
			}
			if asQuota(err) == nil {
				t.Fatalf("Admit = %v, want a 429", err)
			}
			if counted != tt.wantCount {
				t.Errorf("texts counted = %v, want %v", counted, tt.wantCount)
			}
		})
	}
}

func TestSharedRemaining(t *testing.T) {
	tests := []struct{ limit, committed, want int64 }{
		{1_000_000, 0, 1_000_000},
		{1_000_000, 1, 990_000}, // a micro-dollar spent shows as a cent
		{1_000_000, 9_999, 990_000},
		{1_000_000, 10_000, 990_000},
		{1_000_000, 10_001, 980_000},
		{1_000_000, 999_999, 0},
		{1_000_000, 1_500_000, 0},
	}
	for _, tt := range tests {
		if got := budget.SharedRemaining(tt.limit, tt.committed); got != tt.want {
			t.Errorf("SharedRemaining(%d, %d) = %d, want %d", tt.limit, tt.committed, got, tt.want)
		}
	}
}
