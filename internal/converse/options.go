package converse

import (
	"strings"

	"github.com/aws/aws-sdk-go-v2/service/bedrockruntime"
	"github.com/aws/aws-sdk-go-v2/service/bedrockruntime/types"
)

// This file holds what the gateway, not the client, decides about a request
// ([Options]), and how ToConverse applies it: the guardrail, the prompt
// cache's scope, and the requestMetadata that joins Bedrock's invocation
// logs with Tollgate's metering.

// Options are the settings of one request that come from the gateway (its
// policy and flags) rather than from the OpenAI body. The zero value adds
// nothing to the request.
type Options struct {
	KeyID     string // the policy key id; sent as requestMetadata tollgate_key_id
	RequestID string // the gateway's request id; sent as requestMetadata tollgate_request_id

	// Guardrail, when set, becomes the request's guardrailConfig.
	Guardrail *Guardrail
	// PromptCache is the policy's default for prompt caching; the request's
	// prompt_cache (or prompt_cache_key) overrides it. Cache points are only
	// placed for models that support them (quirks.go).
	PromptCache bool
	// ThinkTags: the server shows reasoning in content between <think> and
	// </think>. ToConverse then strips such a block from the assistant
	// messages a client sends back.
	ThinkTags bool
	// ImagesPending: image URLs are not fetched yet. ToConverse then
	// translates them as images without bytes, for measuring the input
	// before admission; the input to send is built again once they are.
	ImagesPending bool
	// CacheScope, when set and the request has a cache point, opens the
	// system prompt: Bedrock keeps one prompt cache per AWS account, so the
	// prefixes of requests of different scopes (keys, or teams that share a
	// cache) must differ from their first block. An opaque token.
	CacheScope string
}

// Guardrail is an Amazon Bedrock guardrail to apply to a request.
type Guardrail struct {
	ID      string // guardrailIdentifier: an id or a guardrail ARN
	Version string // guardrailVersion: a number or "DRAFT"
	Trace   bool   // ask Bedrock for the guardrail trace
}

// scopeCache opens in's system prompt with the cache scope when in has a
// cache point anywhere. The tools come before the system prompt in what
// Bedrock caches, so a cache point among the tools (which ToConverse never
// places) would not be scoped: it is dropped.
func scopeCache(in *bedrockruntime.ConverseInput, scope string) {
	if scope == "" {
		return
	}
	found := false
	if tc := in.ToolConfig; tc != nil {
		tools := tc.Tools[:0:0]
		for _, t := range tc.Tools {
			if _, ok := t.(*types.ToolMemberCachePoint); ok {
				found = true
				continue
			}
			tools = append(tools, t)
		}
		if found {
			tc.Tools = tools
		}
	}
	for _, b := range in.System {
		if _, ok := b.(*types.SystemContentBlockMemberCachePoint); ok {
			found = true
		}
	}
	for _, m := range in.Messages {
		for _, b := range m.Content {
			if _, ok := b.(*types.ContentBlockMemberCachePoint); ok {
				found = true
			}
		}
	}
	if found {
		in.System = append([]types.SystemContentBlock{&types.SystemContentBlockMemberText{Value: "[cache scope " + scope + "]"}}, in.System...)
	}
}

func guardrailConfig(g *Guardrail) *types.GuardrailConfiguration {
	if g == nil || g.ID == "" {
		return nil
	}
	c := &types.GuardrailConfiguration{GuardrailIdentifier: ptr(g.ID), GuardrailVersion: ptr(g.Version), Trace: types.GuardrailTraceDisabled}
	if g.Version == "" {
		c.GuardrailVersion = ptr("DRAFT")
	}
	if g.Trace {
		c.Trace = types.GuardrailTraceEnabled
	}
	return c
}

// Request metadata keys Tollgate sets.
const (
	MetadataKeyID     = "tollgate_key_id"
	MetadataRequestID = "tollgate_request_id"
	MetadataUser      = "user"
)

// maxMetadataValue is the longest requestMetadata key or value Bedrock
// accepts.
const maxMetadataValue = 256

// requestMetadata builds the requestMetadata map: the key id, the request
// id and the client's user, each sanitized to Bedrock's rules. nil when all
// are empty.
func requestMetadata(opts Options, user string) map[string]string {
	m := map[string]string{}
	for _, kv := range [][2]string{{MetadataKeyID, opts.KeyID}, {MetadataRequestID, opts.RequestID}, {MetadataUser, user}} {
		if v := SanitizeMetadata(kv[1]); v != "" {
			m[kv[0]] = v
		}
	}
	if len(m) == 0 {
		return nil
	}
	return m
}

// SanitizeMetadata reduces s to what Bedrock accepts as a requestMetadata
// value: at most 256 characters of [a-zA-Z0-9\s:_@$#=/+,-.], every other
// character replaced by '_'.
func SanitizeMetadata(s string) string {
	if len(s) <= maxMetadataValue && metadataClean(s) {
		return s // every request's ids are: no copy
	}
	var b strings.Builder
	b.Grow(min(len(s), maxMetadataValue))
	n := 0
	for _, r := range s {
		if n == maxMetadataValue {
			break
		}
		switch {
		case r < 0x80 && metadataByte(byte(r)):
			b.WriteByte(byte(r))
		default:
			b.WriteByte('_')
		}
		n++
	}
	return b.String()
}

// metadataByte reports whether c is one of the ASCII characters Bedrock
// accepts in request metadata.
func metadataByte(c byte) bool {
	return c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || strings.IndexByte(" \t\n\r:_@$#=/+,-.", c) >= 0
}

// metadataClean reports whether every byte of s is a metadataByte, so that
// SanitizeMetadata would return s unchanged (when it is short enough).
func metadataClean(s string) bool {
	for i := 0; i < len(s); i++ {
		if !metadataByte(s[i]) {
			return false
		}
	}
	return true
}
