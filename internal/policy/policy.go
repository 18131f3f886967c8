package policy

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"maps"
	"slices"
	"time"

	"gopkg.in/yaml.v3"

	"github.com/tollgate-gw/tollgate"
)

// Uncapped marks a scope (key, team, global) with no budget.
const Uncapped int64 = -1

// Key is one API key: its policy id (the only name logs and metrics use), the
// hash of its secret, what it may call and what it may spend. The secret
// itself is never stored. Field names are the policy file's contract
// (docs/policy.md); a nil pointer means the field was left out.
type Key struct {
	ID               string    `yaml:"id"`
	SHA256           string    `yaml:"sha256"`
	Team             string    `yaml:"team,omitempty"`
	Models           []string  `yaml:"models,omitempty"` // globs, alias names; empty means every model
	Deny             []string  `yaml:"deny,omitempty"`   // globs; a match wins over Models
	MonthlyBudgetUSD *float64  `yaml:"monthly_budget_usd,omitempty"`
	WeeklyBudgetUSD  *float64  `yaml:"weekly_budget_usd,omitempty"` // Monday 00:00 UTC to the next
	DailyBudgetUSD   *float64  `yaml:"daily_budget_usd,omitempty"`  // 00:00 UTC to the next
	AlertAt          Fractions `yaml:"alert_at,omitempty"`          // fractions of each budget
	Enabled          *bool     `yaml:"enabled,omitempty"`           // nil means enabled
	Expires          *Date     `yaml:"expires,omitempty"`           // the key stops working at 00:00 UTC of this day
	// Guardrail, when set, applies to every request of the key, over the
	// model's (models section).
	Guardrail *Guardrail `yaml:"guardrail,omitempty"`
	// PromptCache, when set, switches prompt caching for the key's
	// requests, over the model's; a request's prompt_cache wins over both.
	PromptCache *bool `yaml:"prompt_cache,omitempty"`
	RateLimits  `yaml:",inline"`

	hash [sha256.Size]byte
	src  source
}

// BudgetMicros returns the key's own monthly cap in micro-USD, or Uncapped.
func (k *Key) BudgetMicros() int64 { return micros(k.MonthlyBudgetUSD) }

// Limits returns the key's own caps of every period.
func (k *Key) Limits() Limits {
	return Limits{Daily: micros(k.DailyBudgetUSD), Weekly: micros(k.WeeklyBudgetUSD), Monthly: micros(k.MonthlyBudgetUSD)}
}

// micros is a budget field in micro-USD, or Uncapped when it is nil.
func micros(usd *float64) int64 {
	if usd == nil {
		return Uncapped
	}
	return usdToMicros(*usd)
}

// Allows reports whether the key's own patterns let it use model, a model
// id, profile id or ARN: an allowlist pattern matching it (when the key has
// an allowlist), and no deny pattern matching it or a model it routes to. It
// knows nothing of aliases, prices or the catalog; [Policy.Route] and
// [Policy.Visible] make the full decision.
func (k *Key) Allows(model string) bool {
	return k.permits(model, model, resolveModel(model, nil)) == nil
}

// Restricted reports whether the key has a model allowlist.
func (k *Key) Restricted() bool { return len(k.Models) > 0 }

// Team groups keys under shared caps.
type Team struct {
	ID               string    `yaml:"id"`
	MonthlyBudgetUSD *float64  `yaml:"monthly_budget_usd,omitempty"`
	WeeklyBudgetUSD  *float64  `yaml:"weekly_budget_usd,omitempty"`
	DailyBudgetUSD   *float64  `yaml:"daily_budget_usd,omitempty"`
	AlertAt          Fractions `yaml:"alert_at,omitempty"`
	// SharePromptCache lets the team's keys read each other's prompt-cache
	// entries; by default each key's are its own ([Policy.CacheScope]).
	SharePromptCache *bool `yaml:"share_prompt_cache,omitempty"`
	RateLimits       `yaml:",inline"`

	src source
}

// BudgetMicros returns the team's monthly cap in micro-USD, or Uncapped.
func (t *Team) BudgetMicros() int64 { return micros(t.MonthlyBudgetUSD) }

// Limits returns the team's caps of every period.
func (t *Team) Limits() Limits {
	return Limits{Daily: micros(t.DailyBudgetUSD), Weekly: micros(t.WeeklyBudgetUSD), Monthly: micros(t.MonthlyBudgetUSD)}
}

// RateLimits are a key's or a team's rate limits (docs/rate-limits.md); a
// nil field is no limit.
type RateLimits struct {
	// RequestsPerMinute: admissions in any sliding 60-second window.
	RequestsPerMinute *int64 `yaml:"requests_per_minute,omitempty"`
	// TokensPerMinute: input and output tokens of the admissions in any
	// sliding 60-second window (reserved at the worst case, corrected to
	// Bedrock's count at settlement).
	TokensPerMinute *int64 `yaml:"tokens_per_minute,omitempty"`
	// MaxConcurrentRequests: admitted requests not yet settled.
	MaxConcurrentRequests *int64 `yaml:"max_concurrent_requests,omitempty"`
}

// Limited reports whether any rate limit is set.
func (r RateLimits) Limited() bool {
	return r.RequestsPerMinute != nil || r.TokensPerMinute != nil || r.MaxConcurrentRequests != nil
}

// Date is a calendar day, written 2027-01-01 in policy files.
type Date struct {
	Year  int
	Month time.Month
	Day   int
}

// Start returns 00:00 UTC of the day.
func (d Date) Start() time.Time { return time.Date(d.Year, d.Month, d.Day, 0, 0, 0, 0, time.UTC) }

// String returns the day as YYYY-MM-DD.
func (d Date) String() string { return fmt.Sprintf("%04d-%02d-%02d", d.Year, d.Month, d.Day) }

// UnmarshalYAML implements [yaml.Unmarshaler]: only YYYY-MM-DD is accepted.
func (d *Date) UnmarshalYAML(n *yaml.Node) error {
	t, err := time.Parse(time.DateOnly, n.Value)
	if n.Kind != yaml.ScalarNode || err != nil {
		return fmt.Errorf("%q is not a date: write it as YYYY-MM-DD, e.g. 2027-01-01", n.Value)
	}
	d.Year, d.Month, d.Day = t.Date()
	return nil
}

// MarshalYAML implements [yaml.Marshaler].
func (d Date) MarshalYAML() (any, error) { return d.String(), nil }

// Policy is a loaded, validated set of keys, teams, budgets, aliases and
// prices. It is safe for concurrent use because it never changes after it is
// built.
type Policy struct {
	Keys    []*Key
	Version string // content hash of the files it was loaded from

	byHash       map[[sha256.Size]byte]*Key
	byID         map[string]*Key
	teams        []*Team
	teamByID     map[string]*Team
	global       Limits
	globalAlert  float64 // the lowest threshold; 0 when unset
	globalAlerts Fractions
	alerts       AlertDestinations
	aliases      map[string]string
	fallbacks    map[string][]string // model id or alias → its fallbacks, in order
	prices       map[string]Price    // the shipped table with the policy's entries over it
	overrides    int                 // how many prices the policy itself sets
	models       []modelEntry        // the models sections, in file and entry order
}

// errUnknownKey builds a fresh error each time: callers may set its Cause.
func errUnknownKey() *tollgate.Error {
	return tollgate.Errorf(tollgate.Unauthenticated, "invalid_api_key", "",
		"Incorrect API key provided. Check the key, or ask your Tollgate administrator for one.")
}

// Authenticate returns the key whose hash matches secret, if it is enabled
// and not expired at now. Errors are *tollgate.Error of kind Unauthenticated
// and code invalid_api_key, and never hold the secret; for a disabled or
// expired key the Cause names the key id, for logs.
//
// Only hashes are compared: the secret is hashed first and the hash looked up
// in a map, so timing does not depend on how much of a stored secret a guess
// gets right.
func (p *Policy) Authenticate(secret string, now time.Time) (*Key, error) {
	k, ok := p.byHash[sha256.Sum256([]byte(secret))]
	if !ok || secret == "" {
		return nil, errUnknownKey()
	}
	if err := k.usable(now); err != nil {
		return nil, err
	}
	return k, nil
}

// Reauthenticate returns p's version of a key authenticated under an
// earlier policy, so that a request is admitted under the policy in force
// when it reaches its budget check, not the one of when its headers were
// read: a key disabled, removed, expired or given another secret
// meanwhile is refused, and the returned key carries p's caps and models.
// Errors are those of [Policy.Authenticate].
func (p *Policy) Reauthenticate(k *Key, now time.Time) (*Key, error) {
	cur, ok := p.byID[k.ID]
	if !ok || cur.hash != k.hash {
		e := errUnknownKey()
		e.Cause = fmt.Errorf("key %q was removed or its secret changed while the request was read", k.ID)
		return nil, e
	}
	if err := cur.usable(now); err != nil {
		return nil, err
	}
	return cur, nil
}

// usable says whether k may be used at now: enabled and not expired.
func (k *Key) usable(now time.Time) error {
	if k.Enabled != nil && !*k.Enabled {
		e := tollgate.Errorf(tollgate.Unauthenticated, "invalid_api_key", "",
			"This API key has been disabled. Ask your Tollgate administrator to enable it or to issue a new one.")
		e.Cause = fmt.Errorf("key %q is disabled", k.ID)
		return e
	}
	if k.Expires != nil && !now.Before(k.Expires.Start()) {
		e := tollgate.Errorf(tollgate.Unauthenticated, "invalid_api_key", "",
			"This API key expired on %s (00:00 UTC). Ask your Tollgate administrator for a new one.", k.Expires)
		e.Cause = fmt.Errorf("key %q expired on %s", k.ID, k.Expires)
		return e
	}
	return nil
}

// KeyByID returns the key with the given policy id.
func (p *Policy) KeyByID(id string) (*Key, bool) {
	k, ok := p.byID[id]
	return k, ok
}

// Teams returns the policy's teams, in the order their files (by name) and
// entries define them. The caller must not modify them.
func (p *Policy) Teams() []*Team { return slices.Clone(p.teams) }

// Team returns the team with the given id.
func (p *Policy) Team(id string) (*Team, bool) {
	t, ok := p.teamByID[id]
	return t, ok
}

// GlobalBudgetMicros returns the gateway-wide monthly cap in micro-USD, or
// Uncapped.
func (p *Policy) GlobalBudgetMicros() int64 { return p.global.Monthly }

// GlobalLimits returns the gateway-wide caps of every period.
func (p *Policy) GlobalLimits() Limits { return p.global }

// GlobalAlertAt returns the global cap's alert threshold, a fraction of it,
// or 0 when unset.
func (p *Policy) GlobalAlertAt() float64 { return p.globalAlert }

// Aliases returns a copy of the alias table: alias name → Bedrock model id.
func (p *Policy) Aliases() map[string]string { return maps.Clone(p.aliases) }

// PricedModels returns the model ids with a price (the shipped table and the
// policy's pricing section), sorted, and how many of them the policy set.
func (p *Policy) PricedModels() (ids []string, fromPolicy int) {
	return slices.Sorted(maps.Keys(p.prices)), p.overrides
}

// HashSecret returns the hex SHA-256 of a secret, as policy files store it.
func HashSecret(secret string) string {
	sum := sha256.Sum256([]byte(secret))
	return hex.EncodeToString(sum[:])
}

// WithKey returns a copy of p that also accepts k, checked as a key in a
// policy file would be. It fails if k's id or hash is already taken. p is not
// changed.
func (p *Policy) WithKey(k Key) (*Policy, error) {
	k.src = source{path: fmt.Sprintf("key %q", k.ID)}
	q := *p
	q.Keys = append(slices.Clone(p.Keys), &k)
	probs := q.checkKey(&k)
	if len(probs) == 0 {
		probs = q.index()
	}
	if len(probs) > 0 {
		return nil, &ValidationError{Problems: probs}
	}
	return &q, nil
}

// index fills byHash from keys already checked (checkKey), reporting
// duplicate ids and hashes. It only reads the keys, which a live Policy may
// share with the one being built.
func (p *Policy) index() []Problem {
	var probs []Problem
	p.byHash = make(map[[sha256.Size]byte]*Key, len(p.Keys))
	ids := make(map[string]*Key, len(p.Keys))
	p.byID = ids
	for _, k := range p.Keys {
		if prev, dup := ids[k.ID]; dup {
			probs = append(probs, k.src.problem("id", "duplicate key id %q (also %s)", k.ID, prev.src.where()))
		} else {
			ids[k.ID] = k
		}
		if k.hash == ([sha256.Size]byte{}) {
			continue // its sha256 was reported
		}
		if prev, dup := p.byHash[k.hash]; dup {
			probs = append(probs, k.src.problem("sha256", "keys %q and %q have the same sha256 (also %s): each key needs its own secret", prev.ID, k.ID, prev.src.where()))
			continue
		}
		p.byHash[k.hash] = k
	}
	return probs
}
