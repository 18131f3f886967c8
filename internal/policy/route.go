package policy

import (
	"maps"
	"slices"
	"strings"

	"github.com/tollgate-gw/tollgate"
	"github.com/tollgate-gw/tollgate/internal/modelid"
)

// Route is what a request for a model turns into.
type Route struct {
	Requested string // the name the client sent: a model id or an alias
	ModelID   string // the Bedrock model id, inference profile id or ARN to call
	Price     Price  // valid when Priced
	Priced    bool

	// Guardrail is the guardrail the request goes through (the key's, else
	// the model's); nil when none.
	Guardrail *Guardrail
	// PromptCache is the policy's default for prompt caching (the key's
	// setting, else the model's, else off).
	PromptCache bool
}

// Route resolves the model a key asked for (an alias becomes its Bedrock
// model id), says which guardrail and prompt caching default apply (the
// key's settings over the models section's), and decides whether the key
// may use it: its allowlist must be
// empty or have a pattern matching the requested name or the model id, and
// no deny pattern may match either. A key under any cap (its own, its
// team's, the global one) may only use priced models, so that every request
// it makes can be charged.
//
// Errors are *tollgate.Error of kind PermissionDenied with param "model" and
// code model_not_allowed or model_not_priced.
func (p *Policy) Route(k *Key, model string) (Route, error) {
	return p.RouteVia(k, model, nil)
}

// BaseModel names the foundation model (or system inference profile) an id
// routes to, when only the running gateway can know it: an application
// inference profile ARN is opaque, but Bedrock's catalog lists the model
// behind it.
type BaseModel func(id string) (base string, ok bool)

// RouteVia is Route, resolving an id the policy cannot resolve by itself (an
// application inference profile ARN) through base (nil: no such lookup).
func (p *Policy) RouteVia(k *Key, model string, base BaseModel) (Route, error) {
	r := Route{Requested: model, ModelID: model}
	if target, ok := p.aliases[model]; ok {
		r.ModelID = target
	}
	res := resolveModel(r.ModelID, base)
	if err := p.decide(k, &r, res); err != nil {
		return r, err
	}
	p.applyFeatures(k, &r, res)
	return r, nil
}

// decide fills r's price and says whether k may use it. The deny list, like
// guardrails and prices, applies to every name the request reaches Bedrock
// by and every model that serves it; the allowlist only to the names the
// client and the policy wrote (and the id an ARN names), so that allowing a
// model does not allow its cross-region profiles, nor allowing one profile
// the others.
func (p *Policy) decide(k *Key, r *Route, res resolution) error {
	if err := k.permits(r.Requested, r.ModelID, res); err != nil {
		return err
	}
	r.Price, r.Priced = p.priceOf(res)
	if !r.Priced && p.Caps(k).Capped() {
		return tollgate.Errorf(tollgate.PermissionDenied, "model_not_priced", "model",
			"The model %q has no price, and your API key has a spending limit, so it cannot be charged. Use another model, or ask your Tollgate administrator to add a price for %q to the policy's pricing section.", r.Requested, r.ModelID)
	}
	return nil
}

// permits applies k's deny list and allowlist to a request for requested,
// which resolves to modelID and res.
func (k *Key) permits(requested, modelID string, res resolution) error {
	if requested == "" {
		return notAllowed(requested)
	}
	if matchAny(k.Deny, res.served(requested)) {
		return notAllowed(requested)
	}
	if !res.known && (len(k.Deny) > 0 || (len(k.Models) > 0 && !slices.ContainsFunc(k.Models, func(m string) bool {
		return m == requested || m == modelID
	}))) {
		return tollgate.Errorf(tollgate.PermissionDenied, "model_not_allowed", "model",
			"The gateway cannot tell which model %q routes to, so it cannot check it against your API key's model rules. Use a foundation model id or an inference profile id (GET /v1/models lists them), or ask your Tollgate administrator to name it in the key's models.", requested)
	}
	if len(k.Models) > 0 && !matchAny(k.Models, res.same(requested)) {
		return notAllowed(requested)
	}
	return nil
}

func notAllowed(model string) error {
	return tollgate.Errorf(tollgate.PermissionDenied, "model_not_allowed", "model",
		"Your API key is not allowed to use the model %q. Use one that GET /v1/models lists, or ask your Tollgate administrator to add it to the key's models.", model)
}

// matchAny reports whether any pattern matches any name.
func matchAny(patterns, names []string) bool {
	for _, pattern := range patterns {
		for _, name := range names {
			if Match(pattern, name) {
				return true
			}
		}
	}
	return false
}

// Visible reports whether GET /v1/models lists the Bedrock model id for k:
// whether [Policy.Route] would accept a request for it by that id (allowed,
// not denied, and priced if the key is under a cap).
func (p *Policy) Visible(k *Key, modelID string) bool {
	return p.VisibleVia(k, modelID, nil)
}

// VisibleVia is Visible, resolving through base as RouteVia does.
func (p *Policy) VisibleVia(k *Key, modelID string, base BaseModel) bool {
	return p.decide(k, &Route{Requested: modelID, ModelID: modelID}, resolveModel(modelID, base)) == nil
}

// AliasesFor returns the alias names k may use, sorted: those
// [Policy.Route] accepts. GET /v1/models lists them too.
func (p *Policy) AliasesFor(k *Key) []string {
	var names []string
	for _, name := range slices.Sorted(maps.Keys(p.aliases)) {
		if p.decide(k, &Route{Requested: name, ModelID: p.aliases[name]}, resolveModel(p.aliases[name], nil)) == nil {
			names = append(names, name)
		}
	}
	return names
}

// Caps are the monthly spend caps a key is under, in micro-USD; Uncapped
// where a scope has none.
type Caps struct {
	Key, Team, Global Limits
	TeamID            string // "" when the key has no team
}

// Capped reports whether any cap applies.
func (c Caps) Capped() bool { return c.Key.Capped() || c.Team.Capped() || c.Global.Capped() }

// Limits are one scope's caps (a key's, a team's or the gateway's), one
// per budget period, in micro-USD; Uncapped where none is set.
type Limits struct {
	Daily, Weekly, Monthly int64
}

// NoLimits is a scope without any cap.
var NoLimits = Limits{Daily: Uncapped, Weekly: Uncapped, Monthly: Uncapped}

// Capped reports whether any period is capped.
func (l Limits) Capped() bool { return l != NoLimits }

// Caps returns the caps k is under.
func (p *Policy) Caps(k *Key) Caps {
	c := Caps{Key: k.Limits(), Team: NoLimits, Global: p.global, TeamID: k.Team}
	if t, ok := p.teamByID[k.Team]; ok {
		c.Team = t.Limits()
	}
	return c
}

// Rates are the rate limits k is under: its own and its team's (Team is
// the zero RateLimits when k has no team or the team sets none).
type Rates struct {
	Key, Team RateLimits
	TeamID    string
}

// Rates returns the rate limits k is under.
func (p *Policy) Rates(k *Key) Rates {
	r := Rates{Key: k.RateLimits, TeamID: k.Team}
	if t, ok := p.teamByID[k.Team]; ok {
		r.Team = t.RateLimits
	}
	return r
}

// Alerts are the lowest soft thresholds of each cap k is under, as
// fractions of the cap; 0 where none is set.
type Alerts struct {
	Key, Team, Global float64
}

// Alerts returns the alert thresholds of the caps k is under.
func (p *Policy) Alerts(k *Key) Alerts {
	var a Alerts
	a.Key = k.AlertAt.Lowest()
	if t, ok := p.teamByID[k.Team]; ok {
		a.Team = t.AlertAt.Lowest()
	}
	a.Global = p.globalAlert
	return a
}

// Knows reports whether model is a name the policy defines: an alias, or a
// model (or a profile of one) with a price. Metrics use it to keep their
// label values bounded.
func (p *Policy) Knows(model string) bool {
	if _, ok := p.aliases[model]; ok {
		return true
	}
	_, ok := p.Price(model)
	return ok
}

// resolution is what a Bedrock model id is known to route to.
type resolution struct {
	// ids are the id itself, then the id its ARN names (a foundation model
	// ARN names a model id, a system inference profile ARN a profile id),
	// then the foundation model a profile routes to.
	ids []string
	// nSame counts the ids that name the same thing as the id itself: the
	// id and the id its ARN names. Allowlists match these alone.
	nSame int
	// hidden are ids an unknown geography prefix may put a foundation model
	// id behind (xx.anthropic.claude-… is treated as anthropic.claude-…):
	// deny rules and guardrails match them too, prices do not.
	hidden []string
	// known is false when the model behind the id cannot be told: an ARN of
	// another kind, or an application inference profile that base did not
	// resolve.
	known bool
}

// same returns the requested name and the ids naming the same thing as the
// id: what an allowlist is matched against.
func (r resolution) same(requested string) []string {
	return append([]string{requested}, r.ids[:r.nSame]...)
}

// served returns the requested name and every id the request reaches
// Bedrock by or is served by: what deny rules and guardrails match.
func (r resolution) served(requested string) []string {
	names := append([]string{requested}, r.ids...)
	return append(names, r.hidden...)
}

// resolveModel resolves a Bedrock model id (package modelid parses it): a
// foundation model id, a cross-region inference profile id, a
// foundation-model or inference-profile ARN, or an application inference
// profile ARN (through base, the catalog).
func resolveModel(id string, base BaseModel) resolution {
	r := resolution{ids: []string{id}, known: true}
	add := func(s string, ok bool) {
		if ok && s != "" && !slices.Contains(r.ids, s) {
			r.ids = append(r.ids, s)
		}
	}
	named := id
	if modelid.IsARN(id) {
		inner, ok := modelid.Unwrap(id)
		switch {
		case ok:
			named = inner
			add(inner, true)
		case modelid.IsApplicationProfile(id) && base != nil:
			b, found := base(id)
			if !found || b == "" {
				r.known = false
				break
			}
			r.nSame = 1
			add(b, true)
			add(modelid.Unwrap(b))
			r.hidden = hiddenIDs(b, r.ids)
			return r
		default:
			r.known = false
		}
	}
	r.nSame = len(r.ids)
	if r.known {
		add(modelid.Unwrap(named))
		r.hidden = hiddenIDs(named, r.ids)
	}
	return r
}

// hiddenIDs returns what id reads as once leading dotted labels are taken
// off, as long as what is left still looks like provider.model: a geography
// prefix Bedrock adds later must not hide a denied model. Ids already in
// known are left out.
func hiddenIDs(id string, known []string) []string {
	var hidden []string
	for {
		head, _, _ := strings.Cut(id, ":")
		i := strings.IndexByte(head, '.')
		if i < 0 || !strings.Contains(head[i+1:], ".") {
			return hidden
		}
		id = id[i+1:]
		if !slices.Contains(known, id) {
			hidden = append(hidden, id)
		}
	}
}
