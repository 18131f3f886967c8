// Package modelid reads Bedrock model ids: which foundation model a
// cross-region inference profile id or an ARN routes to, and which provider
// makes it. It is the one place that parses them; policy (prices, globs),
// converse (per-model quirks, embedding families) and api (the catalog's
// base models) ask it.
//
// The forms of an id a client may send, and what Base returns for each:
//
//	anthropic.claude-3-haiku-20240307-v1:0                          itself
//	us.anthropic.claude-sonnet-4-5-20250929-v1:0                    anthropic.claude-sonnet-4-5-20250929-v1:0
//	arn:aws:bedrock:us-east-1::foundation-model/amazon.nova-pro-v1:0 amazon.nova-pro-v1:0
//	arn:aws:bedrock:us-east-1:123456789012:inference-profile/eu.amazon.nova-pro-v1:0
//	                                                                amazon.nova-pro-v1:0
//	arn:aws:bedrock:us-east-1:123456789012:application-inference-profile/abc123
//	                                                                none: the ARN names no model
package modelid

import (
	"slices"
	"strings"
)

// profilePrefixes are the geographies of cross-region (system-defined)
// inference profile ids.
var profilePrefixes = []string{"us.", "eu.", "apac.", "global.", "us-gov.", "jp.", "au.", "ca."}

// ProfilePrefixes returns the prefixes of cross-region inference profile
// ids ("us.", "eu.", ...), each ending with its dot.
func ProfilePrefixes() []string { return slices.Clone(profilePrefixes) }

// The resource types of the Bedrock ARNs that name a model.
const (
	foundationARN  = "foundation-model"
	profileARN     = "inference-profile"
	applicationARN = "application-inference-profile"
)

// parseARN splits a Bedrock ARN, arn:PARTITION:bedrock:REGION:ACCOUNT:TYPE/ID,
// into its resource type and id; the id may hold ':' (model versions) but
// not '/'. ok is false for anything else, so that an ARN of another kind
// holding ":foundation-model/..." further on is not read as that model.
func parseARN(arn string) (kind, resource string, ok bool) {
	parts := strings.SplitN(arn, ":", 6)
	if len(parts) != 6 || parts[0] != "arn" || !strings.HasPrefix(parts[1], "aws") || parts[2] != "bedrock" {
		return "", "", false
	}
	kind, resource, ok = strings.Cut(parts[5], "/")
	return kind, resource, ok && !strings.Contains(resource, "/")
}

// IsARN reports whether id has the form of an ARN: a Bedrock ARN or not,
// well formed or not.
func IsARN(id string) bool { return strings.HasPrefix(id, "arn:") }

// Unwrap returns what id routes to, one level down: the id inside a
// foundation-model or inference-profile ARN, or the foundation model id of a
// cross-region profile id. ok is false when id is none of these (a
// foundation model id, an application inference profile ARN, or anything
// else). Use it to look an id up level by level (a price set for a profile
// id wins over its model's); use Base for the model itself.
func Unwrap(id string) (inner string, ok bool) {
	inner, _ = unwrap(id)
	return inner, inner != ""
}

// unwrap is Unwrap, telling also whether id had the form of an ARN or a
// profile id, however empty what it wraps.
func unwrap(id string) (inner string, wrapped bool) {
	if IsARN(id) {
		if kind, rest, ok := parseARN(id); ok && (kind == foundationARN || kind == profileARN) {
			return rest, true
		}
		return "", true
	}
	for _, prefix := range profilePrefixes {
		if rest, ok := strings.CutPrefix(id, prefix); ok {
			return rest, true
		}
	}
	return "", false
}

// Base returns the foundation model id behind id: id itself when it is
// one, the model a cross-region profile id or a model ARN routes to
// otherwise. ok is false for an application inference profile ARN, whose
// model only Bedrock's catalog knows, and for any other ARN.
func Base(id string) (base string, ok bool) {
	for range 3 { // an ARN holds a profile id which holds a model id
		inner, wrapped := unwrap(id)
		if !wrapped {
			return id, id != ""
		}
		if inner == "" {
			return "", false
		}
		id = inner
	}
	return "", false
}

// IsApplicationProfile reports whether id is the ARN of an application
// inference profile: an opaque name for a model that only Bedrock's catalog
// (GetInferenceProfile) can tell.
func IsApplicationProfile(id string) bool {
	kind, rest, ok := parseARN(id)
	return ok && kind == applicationARN && rest != ""
}

// Provider returns the provider of the model behind id ("anthropic",
// "amazon", "cohere", "meta", ...): the part of its base id before the
// first dot. "" when id names no model this package can read.
func Provider(id string) string {
	base, ok := Base(id)
	if !ok {
		return ""
	}
	provider, _, ok := strings.Cut(base, ".")
	if !ok {
		return ""
	}
	return provider
}

// HasFamily reports whether the model behind id belongs to family, a prefix
// of foundation model ids such as "anthropic.claude-sonnet-4-5" or
// "amazon.nova-2-". An application inference profile ARN belongs to no
// family: resolve it through the catalog first.
func HasFamily(id, family string) bool {
	base, ok := Base(id)
	return ok && strings.HasPrefix(base, family)
}
