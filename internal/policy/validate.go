package policy

import (
	"cmp"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"math"
	"regexp"
	"slices"
	"strings"
)

// Problem is one thing wrong with a policy, located in its file.
type Problem struct {
	File    string // as given to Parse: a path or an s3:// URL; "" for a key added by the gateway
	Line    int    // 0 when unknown
	Field   string // e.g. keys[2].models[0]
	Message string // what is wrong and how to fix it
}

// String renders the problem as FILE:LINE: FIELD: MESSAGE.
func (p Problem) String() string {
	var b strings.Builder
	if p.File != "" {
		b.WriteString(p.File)
		if p.Line > 0 {
			fmt.Fprintf(&b, ":%d", p.Line)
		}
		b.WriteString(": ")
	}
	if p.Field != "" {
		b.WriteString(p.Field + ": ")
	}
	b.WriteString(p.Message)
	return b.String()
}

// ValidationError is a policy that does not validate: every problem found,
// one per line.
type ValidationError struct {
	Problems []Problem
}

// Error implements the error interface.
func (e *ValidationError) Error() string {
	lines := make([]string, len(e.Problems))
	for i, p := range e.Problems {
		lines[i] = p.String()
	}
	return strings.Join(lines, "\n")
}

// source is where an entry was defined, to locate its problems.
type source struct {
	file  string
	path  string         // keys[3], budget, aliases[gpt-4o]
	line  int            // of the entry
	lines map[string]int // of each field below it: id, models[2]
}

// problem locates a problem with field (relative to the entry; "" for the
// entry itself).
func (s source) problem(field, format string, args ...any) Problem {
	p := Problem{File: s.file, Line: s.line, Field: s.path, Message: fmt.Sprintf(format, args...)}
	if field != "" {
		if l, ok := s.lines[field]; ok {
			p.Line = l
		} else if base, _, cut := strings.Cut(field, "["); cut {
			if l, ok := s.lines[base]; ok {
				p.Line = l
			}
		}
		if p.Field != "" && !strings.HasPrefix(field, "[") {
			p.Field += "."
		}
		p.Field += field
	}
	return p
}

// where names the entry for messages about another entry.
func (s source) where() string {
	if s.file == "" {
		return "added by the gateway"
	}
	return fmt.Sprintf("in %s:%d", s.file, s.line)
}

// ValidID reports whether id may name a key or a team: 1-64 letters, digits,
// '.', '_' or '-', starting with a letter or digit. (A loop, not the regular
// expression ^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$, whose 64 repetitions took a
// fifth of a millisecond to compile at every start.)
func ValidID(id string) bool {
	if id == "" || len(id) > 64 {
		return false
	}
	for i := 0; i < len(id); i++ {
		switch c := id[i]; {
		case 'A' <= c && c <= 'Z', 'a' <= c && c <= 'z', '0' <= c && c <= '9':
		case i > 0 && (c == '.' || c == '_' || c == '-'):
		default:
			return false
		}
	}
	return true
}

// Limits that keep the integer maths far from overflowing.
const (
	maxBudgetUSD = 1e9 // per period
	maxPriceUSD  = 1e4 // per 1M tokens
)

// build checks the drafted entries against each other and assembles the
// Policy.
func (d *draft) build() (*Policy, []Problem) {
	p := &Policy{
		teamByID: map[string]*Team{},
		global:   NoLimits,
		aliases:  map[string]string{},
		prices:   shippedPrices(),
	}
	var probs []Problem
	for _, t := range d.teams {
		if !ValidID(t.ID) {
			probs = append(probs, t.src.problem("id", "%q must be 1-64 letters, digits, '.', '_' or '-'", t.ID))
			continue
		}
		if prev, dup := p.teamByID[t.ID]; dup {
			probs = append(probs, t.src.problem("id", "duplicate team id %q (also %s)", t.ID, prev.src.where()))
			continue
		}
		probs = append(probs, checkBudget(t.src, t.DailyBudgetUSD, t.WeeklyBudgetUSD, t.MonthlyBudgetUSD, t.AlertAt)...)
		probs = append(probs, checkRates(t.src, t.RateLimits)...)
		p.teamByID[t.ID] = t
		p.teams = append(p.teams, t)
	}
	if b := d.budget; b != nil {
		probs = append(probs, checkBudget(b.src, b.DailyBudgetUSD, b.WeeklyBudgetUSD, b.MonthlyBudgetUSD, b.AlertAt)...)
		p.global = Limits{Daily: micros(b.DailyBudgetUSD), Weekly: micros(b.WeeklyBudgetUSD), Monthly: micros(b.MonthlyBudgetUSD)}
		p.globalAlert, p.globalAlerts = b.AlertAt.Lowest(), b.AlertAt
	}
	if d.alerts != nil {
		p.alerts = d.alerts.dest
	}
	probs = append(probs, p.addPrices(d.prices)...)
	probs = append(probs, p.addAliases(d.aliases)...)
	probs = append(probs, p.addModels(d.models)...)
	probs = append(probs, p.addFallbacks(d.chains)...)
	p.Keys = d.keys
	for _, k := range p.Keys {
		probs = append(probs, p.checkKey(k)...)
	}
	probs = append(probs, p.index()...)
	slices.SortStableFunc(probs, func(a, b Problem) int {
		return cmp.Or(strings.Compare(a.File, b.File), cmp.Compare(a.Line, b.Line))
	})
	return p, probs
}

func (p *Policy) addPrices(entries []priceEntry) []Problem {
	var probs []Problem
	seen := map[string]source{}
	for _, e := range entries {
		if msg := checkModelID(e.model); msg != "" {
			probs = append(probs, e.src.problem("", "%s", msg))
			continue
		}
		if prev, dup := seen[e.model]; dup {
			probs = append(probs, e.src.problem("", "the price of %q is already defined %s: define it once", e.model, prev.where()))
			continue
		}
		seen[e.model] = e.src
		n := len(probs)
		for _, f := range []struct {
			name     string
			v        *float64
			required bool
		}{{"input", e.usd.Input, true}, {"output", e.usd.Output, true}, {"cache_read", e.usd.CacheRead, false}, {"cache_write", e.usd.CacheWrite, false}} {
			switch {
			case f.v == nil && f.required:
				probs = append(probs, e.src.problem(f.name, "missing: give the %s price in USD per 1M tokens (0 if the model has none)", f.name))
			case f.v != nil:
				if msg := checkAmount(*f.v, maxPriceUSD); msg != "" {
					probs = append(probs, e.src.problem(f.name, "%s", msg))
				}
			}
		}
		if len(probs) > n {
			continue
		}
		p.prices[e.model] = e.usd.price()
		p.overrides++
	}
	return probs
}

func (p *Policy) addAliases(entries []aliasEntry) []Problem {
	var probs []Problem
	seen := map[string]aliasEntry{}
	folded := map[string]aliasEntry{}
	var accepted []aliasEntry
	for _, e := range entries {
		if msg := checkModelID(e.name); msg != "" {
			probs = append(probs, e.src.problem("", "alias name: %s", msg))
			continue
		}
		if msg := checkModelID(e.target); msg != "" {
			probs = append(probs, e.src.problem("", "target: %s", msg))
			continue
		}
		if prev, dup := seen[e.name]; dup {
			probs = append(probs, e.src.problem("", "alias %q is already defined %s: define it once", e.name, prev.src.where()))
			continue
		}
		if prev, dup := folded[strings.ToLower(e.name)]; dup {
			probs = append(probs, e.src.problem("", "alias %q differs only in case from alias %q %s: clients would confuse them", e.name, prev.name, prev.src.where()))
			continue
		}
		seen[e.name] = e
		folded[strings.ToLower(e.name)] = e
		accepted = append(accepted, e)
		p.aliases[e.name] = e.target
	}
	for _, e := range accepted {
		if other, ok := seen[e.target]; ok {
			probs = append(probs, e.src.problem("", "target %q is itself an alias (%s): point every alias at a Bedrock model id", e.target, other.src.where()))
		}
	}
	return probs
}

// checkKey checks one key against the rest of the policy (teams, aliases and
// prices must be built), and normalizes its sha256 and sets its hash.
func (p *Policy) checkKey(k *Key) []Problem {
	var probs []Problem
	if !ValidID(k.ID) {
		probs = append(probs, k.src.problem("id", "%q must be 1-64 letters, digits, '.', '_' or '-'", k.ID))
	}
	k.SHA256 = strings.ToLower(strings.TrimSpace(k.SHA256))
	raw, err := hex.DecodeString(k.SHA256)
	switch {
	case err != nil || len(raw) != sha256.Size:
		probs = append(probs, k.src.problem("sha256", "key %q needs the 64 hex digits of the secret's SHA-256 (tollgate key new prints them)", k.ID))
	case [sha256.Size]byte(raw) == sha256.Sum256(nil):
		probs = append(probs, k.src.problem("sha256", "this is the SHA-256 of an empty secret"))
	default:
		k.hash = [sha256.Size]byte(raw)
	}
	if k.Team != "" {
		if _, ok := p.teamByID[k.Team]; !ok {
			probs = append(probs, k.src.problem("team", "team %q is not defined: add it to a teams section", k.Team))
		}
	}
	for _, list := range []struct {
		name     string
		patterns []string
	}{{"models", k.Models}, {"deny", k.Deny}} {
		for j, pattern := range list.patterns {
			if msg := checkPattern(pattern); msg != "" {
				probs = append(probs, k.src.problem(fmt.Sprintf("%s[%d]", list.name, j), "%s", msg))
			}
		}
	}
	probs = append(probs, checkBudget(k.src, k.DailyBudgetUSD, k.WeeklyBudgetUSD, k.MonthlyBudgetUSD, k.AlertAt)...)
	probs = append(probs, checkRates(k.src, k.RateLimits)...)
	probs = append(probs, checkGuardrail(k.src, k.Guardrail)...)
	if len(probs) > 0 {
		return probs
	}
	if why := p.capReason(k); why != "" {
		for j, m := range k.Models {
			if isGlob(m) {
				continue
			}
			target := m
			if t, ok := p.aliases[m]; ok {
				target = t
			}
			if _, ok := p.Price(target); !ok {
				probs = append(probs, k.src.problem(fmt.Sprintf("models[%d]", j),
					"%s, but %q has no price: add it to a pricing section (USD per 1M tokens), or remove it from models", why, target))
			}
		}
	}
	return probs
}

// capReason says which cap makes k's spend metered, or "" when none does.
func (p *Policy) capReason(k *Key) string {
	c := p.Caps(k)
	switch {
	case c.Key.Capped():
		return "the key has a budget"
	case c.Team.Capped():
		return fmt.Sprintf("the key's team %q has a budget", c.TeamID)
	case c.Global.Capped():
		return "the global budget is set"
	}
	return ""
}

// checkBudget checks an entry's daily_budget_usd, weekly_budget_usd and
// monthly_budget_usd, and its alert_at. A shorter period's cap above a
// longer one's is accepted: it never binds, the longer one does
// (docs/policy.md).
func checkBudget(src source, daily, weekly, monthly *float64, alert Fractions) []Problem {
	var probs []Problem
	for _, f := range []struct {
		name string
		v    *float64
	}{{"daily_budget_usd", daily}, {"weekly_budget_usd", weekly}, {"monthly_budget_usd", monthly}} {
		if f.v != nil {
			if msg := checkAmount(*f.v, maxBudgetUSD); msg != "" {
				probs = append(probs, src.problem(f.name, "%s", msg))
			}
		}
	}
	return append(probs, checkAlertAt(src, daily != nil || weekly != nil || monthly != nil, alert)...)
}

// Bounds of the rate limits: a minute cannot hold more requests than a
// gateway serves, nor more tokens than a minute of Bedrock at its largest
// quotas, and a limit that large is a typo.
const (
	maxRequestsPerMinute = 1_000_000
	maxTokensPerMinute   = 1_000_000_000
	maxConcurrent        = 100_000
)

// checkRates checks the rate limits of a key or team.
func checkRates(src source, r RateLimits) []Problem {
	var probs []Problem
	for _, f := range []struct {
		name  string
		v     *int64
		limit int64
	}{
		{"requests_per_minute", r.RequestsPerMinute, maxRequestsPerMinute},
		{"tokens_per_minute", r.TokensPerMinute, maxTokensPerMinute},
		{"max_concurrent_requests", r.MaxConcurrentRequests, maxConcurrent},
	} {
		switch {
		case f.v == nil:
		case *f.v < 1:
			probs = append(probs, src.problem(f.name, "%d must be at least 1: leave %s out for no limit, or disable the key (enabled: false) to refuse every request", *f.v, f.name))
		case *f.v > f.limit:
			probs = append(probs, src.problem(f.name, "%d is too large (at most %d)", *f.v, f.limit))
		}
	}
	return probs
}

// checkAmount checks a USD amount, returning what is wrong or "".
func checkAmount(v, limit float64) string {
	switch {
	case math.IsNaN(v) || math.IsInf(v, 0):
		return fmt.Sprintf("%v is not an amount: use a plain number of US dollars", v)
	case v < 0:
		return fmt.Sprintf("%v must not be negative", v)
	case v > limit:
		return fmt.Sprintf("%v is too large (at most %g)", v, limit)
	}
	return ""
}

// modelChars is what model ids, inference profile ids and ARNs are made of.
var modelChars = regexp.MustCompile(`^[A-Za-z0-9._:/-]*$`)

// checkPattern checks a models or deny glob, returning what is wrong or "".
func checkPattern(pattern string) string {
	if pattern == "" {
		return "empty model pattern"
	}
	if !modelChars.MatchString(strings.NewReplacer("*", "", "?", "").Replace(pattern)) {
		return fmt.Sprintf("%q can never match a model: ids and ARNs hold only letters, digits, '.', '_', ':', '/' and '-', with the globs '*' and '?'", pattern)
	}
	return ""
}

// checkModelID checks a literal model id or alias name, returning what is
// wrong or "".
func checkModelID(id string) string {
	if isGlob(id) {
		return fmt.Sprintf("%q is a glob: name one model", id)
	}
	if id == "" || !modelChars.MatchString(id) {
		return fmt.Sprintf("%q is not a model id: ids and ARNs hold only letters, digits, '.', '_', ':', '/' and '-'", id)
	}
	return ""
}

func isGlob(pattern string) bool { return strings.ContainsAny(pattern, "*?") }

// usdToMicros converts US dollars to micro-USD, rounding to the nearest.
func usdToMicros(usd float64) int64 { return int64(math.Round(usd * 1e6)) }
