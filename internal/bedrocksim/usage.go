package bedrocksim

import (
	"crypto/sha256"
	"encoding/json"
	"hash"
	"sync"
	"time"
)

// The token rule (see doc.go): a text costs ceil(UTF-8 bytes / 4) tokens; an
// image costs imageTokens.
const (
	bytesPerToken = 4
	imageTokens   = 1600
)

// tokensOf returns the tokens that n bytes of text cost.
func tokensOf(n int) int { return (n + bytesPerToken - 1) / bytesPerToken }

// promptMeter walks a request in the order the model reads it (tools, system,
// messages), counting the bytes and images that make up its input tokens and
// hashing the content so far at each cachePoint.
type promptMeter struct {
	bytes       int
	images      int
	h           hash.Hash
	checkpoints []checkpoint
}

// checkpoint is the prompt prefix up to a cachePoint: its size in tokens and
// a digest of its content that identifies it in the prompt cache.
type checkpoint struct {
	tokens int
	key    [sha256.Size]byte
}

func newPromptMeter(modelID string) *promptMeter {
	m := &promptMeter{h: sha256.New()}
	m.mark(modelID) // caches are per model
	return m
}

// mark hashes s without counting it (structure, roles, separators).
func (m *promptMeter) mark(s string) {
	m.h.Write([]byte(s))
	m.h.Write([]byte{0})
}

func (m *promptMeter) text(s string) {
	m.bytes += len(s)
	m.mark(s)
}

// json counts raw JSON in its compact form, so that formatting does not change
// the bill.
func (m *promptMeter) json(raw json.RawMessage) {
	m.text(compactJSON(raw))
}

func (m *promptMeter) image(b []byte) {
	m.images++
	sum := sha256.Sum256(b)
	m.h.Write(sum[:])
}

func (m *promptMeter) cachePoint() {
	var cp checkpoint
	cp.tokens = m.tokens()
	copy(cp.key[:], m.h.Sum(nil))
	m.checkpoints = append(m.checkpoints, cp)
	m.mark("cachePoint")
}

// tokens returns the input tokens counted so far.
func (m *promptMeter) tokens() int { return tokensOf(m.bytes) + m.images*imageTokens }

// digest returns a hash of everything walked so far; it seeds the
// deterministic parts of the reply.
func (m *promptMeter) digest() []byte { return m.h.Sum(nil) }

// measurePrompt walks req.
func measurePrompt(modelID string, req *converseRequest) *promptMeter {
	m := newPromptMeter(modelID)
	if tc := req.ToolConfig; tc != nil {
		m.mark("tools")
		for _, t := range tc.Tools {
			switch {
			case t.ToolSpec != nil:
				m.text(t.ToolSpec.Name)
				if d := t.ToolSpec.Description; d != nil {
					m.text(*d)
				}
				m.json(t.ToolSpec.InputSchema.JSON)
			case t.SystemTool != nil:
				m.text(t.SystemTool.Name)
			case t.CachePoint != nil:
				m.cachePoint()
			}
		}
	}
	if oc := req.OutputConfig; oc != nil && oc.TextFormat != nil && oc.TextFormat.Structure.JSONSchema != nil {
		// The model reads the format it must answer in.
		js := oc.TextFormat.Structure.JSONSchema
		m.mark("outputFormat")
		m.text(js.Name)
		m.text(js.Description)
		m.text(js.Schema)
	}
	m.mark("system")
	for _, b := range req.System {
		switch {
		case b.Text != nil:
			m.text(*b.Text)
		case b.CachePoint != nil:
			m.cachePoint()
		case b.GuardContent != nil:
			m.json(b.GuardContent)
		}
	}
	for _, msg := range req.Messages {
		m.mark("role:" + msg.Role)
		for _, b := range msg.Content {
			m.block(b)
		}
	}
	return m
}

func (m *promptMeter) block(b contentBlock) {
	switch {
	case b.Text != nil:
		m.text(*b.Text)
	case b.Image != nil:
		m.image(b.Image.Source.Bytes)
	case b.Document != nil:
		m.document(b.Document)
	case b.ToolUse != nil:
		m.mark(b.ToolUse.ToolUseID)
		m.text(b.ToolUse.Name)
		m.json(b.ToolUse.Input)
	case b.ToolResult != nil:
		m.mark(b.ToolResult.ToolUseID)
		for _, c := range b.ToolResult.Content {
			switch {
			case c.Text != nil:
				m.text(*c.Text)
			case c.JSON != nil:
				m.json(c.JSON)
			case c.Image != nil:
				m.image(c.Image.Source.Bytes)
			case c.Document != nil:
				m.document(c.Document)
			}
		}
	case b.ReasoningContent != nil:
		if rt := b.ReasoningContent.ReasoningText; rt != nil {
			m.text(rt.Text)
		}
		if rc := b.ReasoningContent.RedactedContent; rc != nil {
			m.text(string(rc))
		}
	case b.CachePoint != nil:
		m.cachePoint()
	case b.GuardContent != nil:
		m.json(b.GuardContent)
	}
}

// document counts a document by its raw bytes (or text).
func (m *promptMeter) document(d *documentBlock) {
	m.text(d.Name)
	switch {
	case d.Source.Bytes != nil:
		m.text(string(d.Source.Bytes))
	case d.Source.Text != "":
		m.text(d.Source.Text)
	default:
		for _, c := range d.Source.Content {
			m.text(c.Text)
		}
	}
}

// Prompt cache bounds: entries live cacheTTL after their last use, as
// Bedrock's default five-minute cache; at most cacheEntries are kept.
const (
	cacheTTL     = 5 * time.Minute
	cacheEntries = 4096
)

// promptCache remembers the prompt prefixes that cachePoints marked. It is
// safe for concurrent use.
type promptCache struct {
	now     func() time.Time
	mu      sync.Mutex
	expires map[[sha256.Size]byte]time.Time
}

func newPromptCache(now func() time.Time) *promptCache {
	return &promptCache{now: now, expires: make(map[[sha256.Size]byte]time.Time)}
}

// charge returns the cache-read and cache-write tokens of a prompt with the
// given checkpoints, and records the checkpoints. The longest prefix seen
// before is read; the rest up to the last checkpoint is written. Checkpoints
// below the model's minimum are ignored, as Bedrock ignores them.
func (c *promptCache) charge(cps []checkpoint, minTokens int) (read, write int) {
	if minTokens <= 0 {
		return 0, 0
	}
	var eligible []checkpoint
	for _, cp := range cps {
		if cp.tokens >= minTokens {
			eligible = append(eligible, cp)
		}
	}
	if len(eligible) == 0 {
		return 0, 0
	}
	now := c.now()
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, cp := range eligible {
		if exp, ok := c.expires[cp.key]; ok && now.Before(exp) {
			read = cp.tokens
		}
	}
	for _, cp := range eligible {
		c.store(cp.key, now.Add(cacheTTL), now)
	}
	return read, eligible[len(eligible)-1].tokens - read
}

func (c *promptCache) store(key [sha256.Size]byte, exp, now time.Time) {
	if _, ok := c.expires[key]; !ok && len(c.expires) >= cacheEntries {
		for k, e := range c.expires {
			if !now.Before(e) {
				delete(c.expires, k)
			}
		}
		for k := range c.expires {
			if len(c.expires) < cacheEntries {
				break
			}
			delete(c.expires, k)
		}
	}
	c.expires[key] = exp
}
