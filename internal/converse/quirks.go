package converse

import "strings"

// quirk is what Tollgate must know about a family of Bedrock models to send
// them a request they accept. Keep every model-specific rule in the quirks
// table below: the translation asks quirksFor and never tests model ids
// itself.
type quirk struct {
	// match is a substring of the model id. Matching on a substring covers
	// the base model id (anthropic.claude-sonnet-4-5-20250929-v1:0), the
	// cross-region inference profiles (us., eu., apac., global. prefixes)
	// and the ARNs of foundation models and system-defined profiles, which
	// embed those ids. Application inference profile ARNs are opaque
	// (.../application-inference-profile/abc123) and match nothing.
	match string

	// exclusiveSampling: the model rejects temperature and top_p in the same
	// request. Tollgate keeps temperature and drops top_p.
	exclusiveSampling bool
}

// quirks is the one table of per-model rules. The first match wins, so put
// a more specific match before a more general one.
var quirks = []quirk{
	{match: "anthropic.claude-sonnet-4-5", exclusiveSampling: true},
	{match: "anthropic.claude-haiku-4-5", exclusiveSampling: true},
	{match: "anthropic.claude-opus-4-1", exclusiveSampling: true},
	{match: "anthropic.claude-opus-4-5", exclusiveSampling: true},
}

// quirksFor returns the rules for modelID; the zero quirk when no row
// matches.
func quirksFor(modelID string) quirk {
	for _, q := range quirks {
		if strings.Contains(modelID, q.match) {
			return q
		}
	}
	return quirk{}
}
