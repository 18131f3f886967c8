package policy

import (
	"fmt"
	"slices"
	"strings"

	"gopkg.in/yaml.v3"
)

// fallbackEntry is one entry of a `fallbacks` section: a model id or alias
// and the models to call, in order, when it cannot answer.
type fallbackEntry struct {
	model   string
	targets []string
	src     source
}

// addFallback decodes one `fallbacks` entry: a list of model ids or
// aliases.
func (d *draft) addFallback(name string, src source, v *yaml.Node) {
	if v.Kind != yaml.SequenceNode {
		d.probs = append(d.probs, src.problem("", `must be a list of model ids or aliases, e.g. ["eu.anthropic.claude-sonnet-4-20250514-v1:0"]`))
		return
	}
	e := fallbackEntry{model: name, src: src}
	e.src.lines = map[string]int{}
	for i, item := range v.Content {
		item = resolve(item)
		field := fmt.Sprintf("[%d]", i)
		e.src.lines[field] = item.Line
		if item.Kind != yaml.ScalarNode || item.Tag == "!!null" {
			d.probs = append(d.probs, e.src.problem(field, "must be a model id or an alias (a string)"))
			return
		}
		e.targets = append(e.targets, item.Value)
	}
	d.chains = append(d.chains, e)
}

// MaxFallbacks bounds a model's fallbacks: each is one more Bedrock call a
// request may wait for.
const MaxFallbacks = 5

// addFallbacks checks the fallbacks sections (aliases and prices must be
// built): every name is an alias or a Bedrock model id, no list is empty,
// names no model twice or the model itself, and no chain leads back to
// where it started.
func (p *Policy) addFallbacks(entries []fallbackEntry) []Problem {
	var probs []Problem
	p.fallbacks = map[string][]string{}
	seen := map[string]source{}
	var accepted []fallbackEntry
	for _, e := range entries {
		if msg := p.checkFallbackName(e.model); msg != "" {
			probs = append(probs, e.src.problem("", "%s", msg))
			continue
		}
		if prev, dup := seen[e.model]; dup {
			probs = append(probs, e.src.problem("", "the fallbacks of %q are already defined %s: define them once", e.model, prev.where()))
			continue
		}
		seen[e.model] = e.src
		if len(e.targets) == 0 {
			probs = append(probs, e.src.problem("", "empty list: name at least one model to fall back to, or remove the entry"))
			continue
		}
		if len(e.targets) > MaxFallbacks {
			probs = append(probs, e.src.problem("", "%d fallbacks, at most %d: each is a Bedrock call the client may wait for", len(e.targets), MaxFallbacks))
			continue
		}
		n := len(probs)
		self := p.resolveAlias(e.model)
		var ids []string
		for i, t := range e.targets {
			field := fmt.Sprintf("[%d]", i)
			if msg := p.checkFallbackName(t); msg != "" {
				probs = append(probs, e.src.problem(field, "%s", msg))
				continue
			}
			id := p.resolveAlias(t)
			switch {
			case id == self:
				probs = append(probs, e.src.problem(field, "%q is the model itself: a fallback must be another model or region", t))
			case slices.Contains(ids, id):
				probs = append(probs, e.src.problem(field, "%q is already in the list: each model is called at most once", t))
			}
			ids = append(ids, id)
		}
		if len(probs) > n {
			continue
		}
		p.fallbacks[e.model] = e.targets
		accepted = append(accepted, e)
	}
	for _, e := range accepted {
		if path := p.fallbackCycle(e.model); path != nil {
			probs = append(probs, e.src.problem("", "the fallbacks form a cycle (%s): a chain must end", strings.Join(path, " → ")))
		}
	}
	return probs
}

// checkFallbackName says what is wrong with a name in a fallbacks section,
// or "": it must be an alias, or a Bedrock model id (provider.model, a
// profile id or an ARN); a bare word is taken for a misspelt alias.
func (p *Policy) checkFallbackName(name string) string {
	if msg := checkModelID(name); msg != "" {
		return msg
	}
	if _, ok := p.aliases[name]; ok {
		return ""
	}
	if !strings.Contains(name, ".") && !strings.HasPrefix(name, "arn:") {
		return fmt.Sprintf("%q is neither an alias of the aliases section nor a Bedrock model id (provider.model, a profile id or an ARN)", name)
	}
	return ""
}

func (p *Policy) resolveAlias(name string) string {
	if t, ok := p.aliases[name]; ok {
		return t
	}
	return name
}

// fallbackCycle returns a chain of fallbacks from start back to start, or
// nil. Fallbacks are followed by name and through aliases: a request only
// ever walks its own model's list, but a cycle in the file is a mistake.
func (p *Policy) fallbackCycle(start string) []string {
	var walk func(name string, path []string) []string
	visited := map[string]bool{}
	walk = func(name string, path []string) []string {
		for _, t := range p.fallbacksOf(name) {
			if p.resolveAlias(t) == p.resolveAlias(start) {
				return append(path, t)
			}
			if visited[t] {
				continue
			}
			visited[t] = true
			if c := walk(t, append(path, t)); c != nil {
				return c
			}
		}
		return nil
	}
	return walk(start, []string{start})
}

// fallbacksOf is the list of a name as written, else of the model id it is
// an alias of.
func (p *Policy) fallbacksOf(name string) []string {
	if l, ok := p.fallbacks[name]; ok {
		return l
	}
	return p.fallbacks[p.resolveAlias(name)]
}

// Fallbacks returns what a request for requested (a model id or alias) may
// fall back to, in order, when its model cannot answer: the list of the
// name the client sent, else the list of the model id it routes to. Each
// is routed for the key like the requested model ([Policy.RouteVia]).
// The caller must not modify the list.
func (p *Policy) Fallbacks(requested, modelID string) []string {
	if l, ok := p.fallbacks[requested]; ok {
		return l
	}
	return p.fallbacks[modelID]
}
