package policy

import (
	"maps"
	"slices"

	"github.com/tollgate-gw/tollgate"
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

// BaseModel names the foundation model an id routes to, when only the
// running gateway can know it: an application inference profile ARN is
// opaque, but Bedrock's catalog lists the model behind it.
type BaseModel func(id string) (base string, ok bool)

// RouteVia is Route, pricing a model the policy cannot price by its id
// through the base model that base names (nil: no such lookup).
func (p *Policy) RouteVia(k *Key, model string, base BaseModel) (Route, error) {
	r := Route{Requested: model, ModelID: model}
	if target, ok := p.aliases[model]; ok {
		r.ModelID = target
	}
	if err := p.decide(k, &r, base); err != nil {
		return r, err
	}
	p.applyFeatures(k, &r)
	return r, nil
}

// decide fills r's price and says whether k may use it.
func (p *Policy) decide(k *Key, r *Route, base BaseModel) error {
	if r.Requested == "" || !k.allows(r.Requested, r.ModelID) {
		return tollgate.Errorf(tollgate.PermissionDenied, "model_not_allowed", "model",
			"Your API key is not allowed to use the model %q. Use one that GET /v1/models lists, or ask your Tollgate administrator to add it to the key's models.", r.Requested)
	}
	r.Price, r.Priced = p.Price(r.ModelID)
	if !r.Priced && base != nil {
		if b, ok := base(r.ModelID); ok {
			r.Price, r.Priced = p.Price(b)
		}
	}
	if !r.Priced && p.Caps(k).Capped() {
		return tollgate.Errorf(tollgate.PermissionDenied, "model_not_priced", "model",
			"The model %q has no price, and your API key has a spending limit, so it cannot be charged. Use another model, or ask your Tollgate administrator to add a price for %q to the policy's pricing section.", r.Requested, r.ModelID)
	}
	return nil
}

// Visible reports whether GET /v1/models lists the Bedrock model id for k:
// whether [Policy.Route] would accept a request for it by that id (allowed,
// not denied, and priced if the key is under a cap).
func (p *Policy) Visible(k *Key, modelID string) bool {
	return p.VisibleVia(k, modelID, nil)
}

// VisibleVia is Visible, pricing through base as RouteVia does.
func (p *Policy) VisibleVia(k *Key, modelID string, base BaseModel) bool {
	return p.decide(k, &Route{Requested: modelID, ModelID: modelID}, base) == nil
}

// AliasesFor returns the alias names k may use, sorted: those
// [Policy.Route] accepts. GET /v1/models lists them too.
func (p *Policy) AliasesFor(k *Key) []string {
	var names []string
	for _, name := range slices.Sorted(maps.Keys(p.aliases)) {
		if p.decide(k, &Route{Requested: name, ModelID: p.aliases[name]}, nil) == nil {
			names = append(names, name)
		}
	}
	return names
}

// Caps are the monthly spend caps a key is under, in micro-USD; Uncapped
// where a scope has none.
type Caps struct {
	Key, Team, Global int64
	TeamID            string // "" when the key has no team
}

// Capped reports whether any cap applies.
func (c Caps) Capped() bool { return c.Key != Uncapped || c.Team != Uncapped || c.Global != Uncapped }

// Caps returns the caps k is under.
func (p *Policy) Caps(k *Key) Caps {
	c := Caps{Key: k.BudgetMicros(), Team: Uncapped, Global: p.global, TeamID: k.Team}
	if t, ok := p.teamByID[k.Team]; ok {
		c.Team = t.BudgetMicros()
	}
	return c
}

// Alerts are the soft thresholds of each cap k is under, as fractions of the
// cap; 0 where none is set.
type Alerts struct {
	Key, Team, Global float64
}

// Alerts returns the alert thresholds of the caps k is under.
func (p *Policy) Alerts(k *Key) Alerts {
	var a Alerts
	if k.AlertAt != nil {
		a.Key = *k.AlertAt
	}
	if t, ok := p.teamByID[k.Team]; ok && t.AlertAt != nil {
		a.Team = *t.AlertAt
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
