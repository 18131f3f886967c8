package policy

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"regexp"
	"slices"
	"strings"
	"sync"

	"gopkg.in/yaml.v3"
)

// Guardrail is an Amazon Bedrock guardrail that a key's or a model's
// requests go through. Field names are the policy file's contract
// (docs/policy.md).
type Guardrail struct {
	ID      string `yaml:"id"`      // guardrail id (e.g. "abc123xyz") or guardrail ARN
	Version string `yaml:"version"` // a version number ("1") or "DRAFT"
	Trace   bool   `yaml:"trace"`   // ask Bedrock for the guardrail trace
}

// guardrailFields are Guardrail's field names, in the order messages list
// them.
var guardrailFields = []string{"id", "version", "trace"}

// UnmarshalYAML implements [yaml.Unmarshaler]: it refuses unknown fields,
// so that a misspelt field does not silently leave requests unguarded.
func (g *Guardrail) UnmarshalYAML(n *yaml.Node) error {
	if n.Kind != yaml.MappingNode {
		return fmt.Errorf("must be a mapping with id, version and optional trace, e.g. {id: abc123xyz, version: \"1\"}")
	}
	for i := 0; i+1 < len(n.Content); i += 2 {
		if k := n.Content[i].Value; !slices.Contains(guardrailFields, k) {
			return fmt.Errorf("unknown field %q: the fields are %s", k, strings.Join(guardrailFields, ", "))
		}
	}
	type plain Guardrail
	var p plain
	if err := n.Decode(&p); err != nil {
		return fmt.Errorf("id and version must be strings and trace true or false")
	}
	*g = Guardrail(p)
	return nil
}

// ModelSettings are the per-model settings of the policy's models section,
// which apply to every key that calls a matching model and does not set its
// own.
type ModelSettings struct {
	Guardrail   *Guardrail `yaml:"guardrail,omitempty"`
	PromptCache *bool      `yaml:"prompt_cache,omitempty"`
}

// modelEntry is one entry of a models section: a model id, alias or glob.
type modelEntry struct {
	pattern string
	ModelSettings
	src source
}

// Bedrock's patterns for a guardrail identifier and version, compiled on
// first use (few policies name a guardrail).
var (
	guardrailIDPattern = sync.OnceValue(func() *regexp.Regexp {
		return regexp.MustCompile(`^(([a-z0-9]+)|(arn:aws(-[^:]+)?:bedrock:[a-z0-9-]{1,20}:[0-9]{12}:guardrail/[a-z0-9]+))$`)
	})
	guardrailVersionPattern = sync.OnceValue(func() *regexp.Regexp { return regexp.MustCompile(`^(([1-9][0-9]{0,7})|(DRAFT))$`) })
)

// checkGuardrail checks a guardrail field of an entry.
func checkGuardrail(src source, g *Guardrail) []Problem {
	if g == nil {
		return nil
	}
	var probs []Problem
	switch {
	case g.ID == "":
		probs = append(probs, src.problem("guardrail", "missing id: give the guardrail's id (e.g. abc123xyz) or ARN"))
	case len(g.ID) > 2048 || !guardrailIDPattern().MatchString(g.ID):
		probs = append(probs, src.problem("guardrail", "id %q is not a guardrail id (lower-case letters and digits) or guardrail ARN (arn:aws:bedrock:REGION:ACCOUNT:guardrail/ID)", g.ID))
	}
	switch {
	case g.Version == "":
		probs = append(probs, src.problem("guardrail", "missing version: give a version number (e.g. \"1\") or DRAFT"))
	case !guardrailVersionPattern().MatchString(g.Version):
		probs = append(probs, src.problem("guardrail", "version %q must be a number from 1 to 99999999 or DRAFT", g.Version))
	}
	return probs
}

// addModels checks the models section entries and keeps them in file and
// entry order.
func (p *Policy) addModels(entries []modelEntry) []Problem {
	var probs []Problem
	seen := map[string]source{}
	for _, e := range entries {
		if msg := checkPattern(e.pattern); msg != "" {
			probs = append(probs, e.src.problem("", "%s", msg))
			continue
		}
		if prev, dup := seen[e.pattern]; dup {
			probs = append(probs, e.src.problem("", "settings for %q are already defined %s: define them once", e.pattern, prev.where()))
			continue
		}
		seen[e.pattern] = e.src
		if ps := checkGuardrail(e.src, e.Guardrail); len(ps) > 0 {
			probs = append(probs, ps...)
			continue
		}
		p.models = append(p.models, e)
	}
	return probs
}

// modelSettings returns the settings of the models entry for a request: an
// entry naming one of its names exactly (the requested name, the model id,
// or a model it routes to), else the first glob (in file-name and entry
// order) matching one of them.
func (p *Policy) modelSettings(names []string) ModelSettings {
	for _, e := range p.models {
		if !isGlob(e.pattern) && slices.Contains(names, e.pattern) {
			return e.ModelSettings
		}
	}
	for _, e := range p.models {
		if isGlob(e.pattern) && matchAny([]string{e.pattern}, names) {
			return e.ModelSettings
		}
	}
	return ModelSettings{}
}

// ModelSettingsFor returns the models section's settings for a model id (or
// alias), as [Policy.Route] applies them; the zero value when no entry
// matches.
func (p *Policy) ModelSettingsFor(model string) ModelSettings {
	return p.modelSettings(resolveModel(model, nil).served(model))
}

// applyFeatures fills r's guardrail and prompt caching: the key's own
// setting when it has one, else the model's, else none (no guardrail,
// caching off).
func (p *Policy) applyFeatures(k *Key, r *Route, res resolution) {
	ms := p.modelSettings(res.served(r.Requested))
	r.Guardrail = ms.Guardrail
	if k.Guardrail != nil {
		r.Guardrail = k.Guardrail
	}
	switch {
	case k.PromptCache != nil:
		r.PromptCache = *k.PromptCache
	case ms.PromptCache != nil:
		r.PromptCache = *ms.PromptCache
	}
}

// CacheScope names whose prompt-cache entries k's requests may read, as an
// opaque token fit for a prompt: k's own, unless k's team shares its cache
// (teams[].share_prompt_cache), then the team's. Bedrock keeps one prompt
// cache for the whole AWS account, and a cache read tells a key that some
// other request sent the same prefix (a confidential system prompt, guessed
// right); the gateway opens every cached prompt with its scope, so that keys
// that do not share a scope never share a prefix.
func (p *Policy) CacheScope(k *Key) string {
	scope := "key\x00" + k.ID
	if t, ok := p.teamByID[k.Team]; ok && t.SharePromptCache != nil && *t.SharePromptCache {
		scope = "team\x00" + t.ID
	}
	sum := sha256.Sum256([]byte("tollgate prompt cache scope\x00" + scope))
	return hex.EncodeToString(sum[:8])
}
