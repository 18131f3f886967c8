package bedrocksim

import (
	"bytes"
	"crypto/sha256"
	"encoding/base64"
	"encoding/binary"
	"encoding/json"
	"sort"
	"strconv"
	"strings"
	"unicode"
	"unicode/utf8"
)

// Stop reasons, as Bedrock reports them.
const (
	stopEndTurn      = "end_turn"
	stopToolUse      = "tool_use"
	stopMaxTokens    = "max_tokens"
	stopStopSequence = "stop_sequence"
	stopGuardrail    = "guardrail_intervened"
)

// guardrailBlocked is the blocked-input message of a simulated guardrail,
// Bedrock's default wording.
const guardrailBlocked = "Sorry, the model cannot answer this question."

// reply is what the simulated model answers: an optional reasoning block, a
// text block and tool calls, in that order.
type reply struct {
	reasoning  *reasoningText
	text       string
	tools      []toolUseBlock
	stopReason string
	// stopSequence is the stop sequence that cut the text, when stopReason
	// is stop_sequence.
	stopSequence string
}

// content returns the reply's content blocks as the response carries them.
func (r *reply) content() []contentBlock {
	var out []contentBlock
	if r.reasoning != nil {
		rt := *r.reasoning
		out = append(out, contentBlock{ReasoningContent: &reasoningBlock{ReasoningText: &rt}})
	}
	if r.text != "" || (len(r.tools) == 0 && r.reasoning == nil) {
		t := r.text
		out = append(out, contentBlock{Text: &t})
	}
	for i := range r.tools {
		tu := r.tools[i]
		out = append(out, contentBlock{ToolUse: &tu})
	}
	return out
}

// outputTokens applies the token rule to everything the model generated.
func (r *reply) outputTokens() int {
	n := r.generatedBytes()
	return max(1, tokensOf(n))
}

func (r *reply) generatedBytes() int {
	n := len(r.text)
	if r.reasoning != nil {
		n += len(r.reasoning.Text)
	}
	for _, t := range r.tools {
		n += len(t.Name) + len(t.Input)
	}
	return n
}

// generate builds the deterministic reply of model m to req. seed identifies
// model and conversation; mk are the markers of the last user message.
func generate(m Model, req *converseRequest, seed []byte, mk markers) *reply {
	rng := newWordSource(seed)
	r := &reply{stopReason: stopEndTurn}
	last := lastUserMessage(req.Messages)
	if mk.guardrail && req.GuardrailConfig != nil {
		r.text, r.stopReason = guardrailBlocked, stopGuardrail
		return r
	}

	if budget := thinkingBudget(req); m.Reasoning && budget > 0 {
		r.reasoning = &reasoningText{
			Text:      "The user asks about: " + snippet(userText(last), 60) + ". I will answer briefly.",
			Signature: signature(seed),
		}
	}

	results := toolResults(last)
	switch {
	case len(results) > 0:
		r.text = sentence("The tool returned: " + snippet(strings.Join(results, "; "), 200))
	case wantsTool(req, last, mk):
		r.tools = callTools(req, last, seed, mk.parallel)
		names := make([]string, len(r.tools))
		for i, t := range r.tools {
			names[i] = t.Name
		}
		r.text = "I'll call " + strings.Join(names, " and ") + "."
		r.stopReason = stopToolUse
	case textFormatSchema(req) != nil:
		answer, _ := json.Marshal(exampleValue(textFormatSchema(req), 0))
		r.text = string(answer)
	default:
		r.text = sentence("This is a simulated reply from " + m.Name + " to: " + snippet(userText(last), 60))
		if mk.tokens > 0 {
			r.text = fitTokens(r.text, mk.tokens, rng)
		}
	}
	if len(results) > 0 && textFormatSchema(req) != nil {
		answer, _ := json.Marshal(exampleValue(textFormatSchema(req), 0))
		r.text = string(answer)
	}

	r.applyLimits(m, req)
	if mk.stop != "" {
		r.stopReason = mk.stop
	}
	return r
}

// applyLimits cuts the reply at the first stop sequence or at maxTokens,
// whichever comes first. A cut drops the tool calls: the model stopped before
// writing them.
func (r *reply) applyLimits(m Model, req *converseRequest) {
	maxTokens := m.MaxOutputTokens
	var stops []string
	if ic := req.InferenceConfig; ic != nil {
		if ic.MaxTokens != nil {
			maxTokens = *ic.MaxTokens
		}
		stops = ic.StopSequences
	}

	cut, reason, seq := len(r.text), "", ""
	for _, s := range stops {
		if i := strings.Index(r.text, s); s != "" && i >= 0 && i < cut {
			cut, reason, seq = i, stopStopSequence, s
		}
	}
	reasoningBytes := 0
	if r.reasoning != nil {
		reasoningBytes = len(r.reasoning.Text)
	}
	maxTextBytes := max(0, maxTokens*bytesPerToken-reasoningBytes)
	if cut > maxTextBytes {
		cut, reason = maxTextBytes, stopMaxTokens
	}
	if reason == "" && tokensOf(r.generatedBytes()) > maxTokens {
		reason = stopMaxTokens // the tool calls do not fit
	}
	if reason == "" {
		return
	}
	r.text = truncateBytes(r.text, cut)
	r.tools = nil
	r.stopReason = reason
	if reason == stopStopSequence {
		r.stopSequence = seq
	}
}

// lastUserMessage returns the last message with role user, or nil.
func lastUserMessage(msgs []message) *message {
	for i := len(msgs) - 1; i >= 0; i-- {
		if msgs[i].Role == "user" {
			return &msgs[i]
		}
	}
	return nil
}

// userText returns the text of msg without markers, whitespace collapsed.
func userText(msg *message) string {
	if msg == nil {
		return ""
	}
	var parts []string
	for _, b := range msg.Content {
		if b.Text != nil {
			parts = append(parts, stripMarkers(*b.Text))
		}
	}
	return strings.Join(strings.Fields(strings.Join(parts, " ")), " ")
}

// askedText is what the user asks in msg: its last text block (clients
// such as Codex send context blocks, naming tools and paths, before the
// question itself).
func askedText(msg *message) string {
	if msg == nil {
		return ""
	}
	for i := len(msg.Content) - 1; i >= 0; i-- {
		if b := msg.Content[i]; b.Text != nil {
			if t := strings.TrimSpace(stripMarkers(*b.Text)); t != "" {
				return t
			}
		}
	}
	return ""
}

// snippet returns s cut to n runes ("..." marks a cut); an empty s becomes
// "your message".
func snippet(s string, n int) string {
	if s == "" {
		return "your message"
	}
	if utf8.RuneCountInString(s) <= n {
		return s
	}
	return strings.TrimSpace(string([]rune(s)[:n])) + "..."
}

// sentence ends s with a full stop unless it ends with punctuation already.
func sentence(s string) string {
	if strings.HasSuffix(s, ".") || strings.HasSuffix(s, "!") || strings.HasSuffix(s, "?") {
		return s
	}
	return s + "."
}

// truncateBytes cuts s to at most n bytes, at a rune boundary.
func truncateBytes(s string, n int) string {
	if len(s) <= n {
		return s
	}
	for n > 0 && !utf8.RuneStart(s[n]) {
		n--
	}
	return s[:n]
}

// fitTokens pads s with filler words, or cuts it, so that it costs exactly n
// tokens: more than 4(n-1) and at most 4n bytes.
func fitTokens(s string, n int, words *wordSource) string {
	var b strings.Builder
	b.WriteString(s)
	for b.Len() <= bytesPerToken*(n-1) {
		b.WriteByte(' ')
		b.WriteString(words.next())
	}
	return truncateBytes(b.String(), bytesPerToken*n)
}

// fillerWords are what [sim:tokens=N] pads replies with.
var fillerWords = strings.Fields(`lorem ipsum dolor sit amet consectetur adipiscing elit sed do eiusmod
	tempor incididunt ut labore et dolore magna aliqua enim ad minim veniam quis nostrud exercitation
	ullamco laboris nisi aliquip ex ea commodo consequat`)

// wordSource picks filler words deterministically from a seed.
type wordSource struct{ state uint64 }

func newWordSource(seed []byte) *wordSource {
	var s [8]byte
	copy(s[:], seed)
	return &wordSource{state: binary.LittleEndian.Uint64(s[:]) | 1}
}

func (w *wordSource) next() string {
	// xorshift64
	w.state ^= w.state << 13
	w.state ^= w.state >> 7
	w.state ^= w.state << 17
	return fillerWords[w.state%uint64(len(fillerWords))]
}

// toolResults returns the results carried by msg, as text.
func toolResults(msg *message) []string {
	if msg == nil {
		return nil
	}
	var out []string
	for _, b := range msg.Content {
		tr := b.ToolResult
		if tr == nil {
			continue
		}
		var parts []string
		for _, c := range tr.Content {
			switch {
			case c.Text != nil:
				parts = append(parts, *c.Text)
			case c.JSON != nil:
				parts = append(parts, compactJSON(c.JSON))
			case c.Image != nil:
				parts = append(parts, "an image")
			case c.Document != nil:
				parts = append(parts, "a document")
			}
		}
		s := strings.Join(parts, " ")
		if tr.Status == "error" {
			s = "error: " + s
		}
		out = append(out, s)
	}
	return out
}

// wantsTool decides whether the reply calls a tool: there are tools, the last
// message is the user's and carries no tool result, and the user forces a
// tool (toolChoice any or tool, [sim:tool]) or asks for what one does (as
// matchedTool finds), as a model given tools with toolChoice auto would.
func wantsTool(req *converseRequest, last *message, mk markers) bool {
	specs := toolSpecs(req)
	if len(specs) == 0 || last == nil || req.Messages[len(req.Messages)-1].Role != "user" {
		return false
	}
	if tc := req.ToolConfig.ToolChoice; mk.tool || (tc != nil && (tc.Any != nil || tc.Tool != nil)) {
		return true
	}
	return matchedTool(specs, askedText(last)) != ""
}

type toolSpec struct {
	name        string
	description string
	schema      json.RawMessage
}

func toolSpecs(req *converseRequest) []toolSpec {
	if req.ToolConfig == nil {
		return nil
	}
	var out []toolSpec
	for _, t := range req.ToolConfig.Tools {
		if t.ToolSpec != nil {
			spec := toolSpec{name: t.ToolSpec.Name, schema: t.ToolSpec.InputSchema.JSON}
			if t.ToolSpec.Description != nil {
				spec.description = *t.ToolSpec.Description
			}
			out = append(out, spec)
		}
	}
	return out
}

// matchedTool returns the tool the user text asks for, or "": the first
// whose name appears in it, else the one sharing the most words with it (in
// its name, split at '_', '-' and case changes, or its description; words of
// three letters or more, a plural's "s" dropped, common words ignored), the
// first of those tied. "What's the weather in Paris?" matches get_weather
// and "Current weather for a city"; "Hello" matches nothing.
func matchedTool(specs []toolSpec, text string) string {
	for _, s := range specs {
		if s.name != "" && containsWord(text, s.name) {
			return s.name
		}
	}
	asked := words(text)
	best, bestScore := "", 0
	for _, s := range specs {
		offered := words(splitName(s.name) + " " + s.description)
		score := 0
		for w := range asked {
			if offered[w] {
				score++
			}
		}
		if score > bestScore {
			best, bestScore = s.name, score
		}
	}
	return best
}

// containsWord reports whether name appears in text as a word of its own
// (not inside a longer name or word).
func containsWord(text, name string) bool {
	isWord := func(r rune) bool { return unicode.IsLetter(r) || unicode.IsDigit(r) || r == '_' || r == '-' }
	for i := 0; ; {
		j := strings.Index(text[i:], name)
		if j < 0 {
			return false
		}
		start, end := i+j, i+j+len(name)
		before, _ := utf8.DecodeLastRuneInString(text[:start])
		after, _ := utf8.DecodeRuneInString(text[end:])
		if (start == 0 || !isWord(before)) && (end == len(text) || !isWord(after)) {
			return true
		}
		i = start + 1
	}
}

// common reports whether w is a word too common for matchedTool to compare.
func common(w string) bool {
	switch w {
	case "the", "and", "for", "with", "what", "whats", "that", "this", "you", "your", "are", "can",
		"how", "please", "tell", "about", "from", "get", "use", "give", "which", "will", "would",
		"could", "should", "there", "here", "into", "current", "today", "now", "does", "have", "has",
		"its":
		return true
	}
	return false
}

// words returns the distinct lower-case words of s that matchedTool
// compares.
func words(s string) map[string]bool {
	out := map[string]bool{}
	for _, w := range strings.FieldsFunc(strings.ToLower(strings.ReplaceAll(s, "'", "")), func(r rune) bool {
		return !unicode.IsLetter(r) && !unicode.IsDigit(r)
	}) {
		if len(w) > 3 {
			w = strings.TrimSuffix(w, "s")
		}
		if len(w) >= 3 && !common(w) {
			out[w] = true
		}
	}
	return out
}

// splitName turns a tool name such as get_weather or getWeather into words.
func splitName(name string) string {
	var b strings.Builder
	prev := rune(0)
	for _, r := range name {
		switch {
		case r == '_' || r == '-' || r == '.':
			r = ' '
		case unicode.IsUpper(r) && unicode.IsLower(prev):
			b.WriteByte(' ')
		}
		b.WriteRune(r)
		prev = r
	}
	return b.String()
}

// callTools returns the tool calls of the reply: the tool toolChoice names,
// else the one the user names, else the first; with parallel, a second call
// to the next tool (or the same one again).
func callTools(req *converseRequest, last *message, seed []byte, parallel bool) []toolUseBlock {
	specs := toolSpecs(req)
	first := 0
	name := ""
	if tc := req.ToolConfig.ToolChoice; tc != nil && tc.Tool != nil {
		name = tc.Tool.Name
	} else {
		name = matchedTool(specs, askedText(last))
	}
	for i, s := range specs {
		if s.name == name {
			first = i
			break
		}
	}
	picks := []toolSpec{specs[first]}
	if parallel {
		picks = append(picks, specs[(first+1)%len(specs)])
	}
	calls := make([]toolUseBlock, len(picks))
	for i, s := range picks {
		input, _ := json.Marshal(exampleValue(schemaOf(s.schema), 0))
		calls[i] = toolUseBlock{ToolUseID: toolUseID(seed, i), Name: s.name, Input: input}
	}
	return calls
}

// toolUseID returns a Bedrock-looking id ("tooluse_" and 22 base64url
// characters) derived from seed and i.
func toolUseID(seed []byte, i int) string {
	sum := sha256.Sum256(append([]byte("tooluse:"+strconv.Itoa(i)+":"), seed...))
	return "tooluse_" + base64.RawURLEncoding.EncodeToString(sum[:16])
}

func signature(seed []byte) string {
	sum := sha256.Sum256(append([]byte("signature:"), seed...))
	return base64.StdEncoding.EncodeToString(append(sum[:], sum[:]...))
}

func schemaOf(raw json.RawMessage) map[string]any {
	var s map[string]any
	_ = json.Unmarshal(raw, &s)
	return s
}

// exampleValue returns a deterministic value that satisfies the JSON schema s
// in the simple cases: the first enum value, "example", 1, true, [], or an
// object with every required property (all properties when none is
// required).
func exampleValue(s map[string]any, depth int) any {
	if enum, ok := s["enum"].([]any); ok && len(enum) > 0 {
		return enum[0]
	}
	if c, ok := s["const"]; ok {
		return c
	}
	typ, _ := s["type"].(string)
	if types, ok := s["type"].([]any); ok {
		for _, t := range types {
			if ts, ok := t.(string); ok && ts != "null" {
				typ = ts
				break
			}
		}
	}
	if typ == "" {
		if _, ok := s["properties"]; ok {
			typ = "object"
		}
	}
	switch typ {
	case "string":
		return "example"
	case "number", "integer":
		return 1
	case "boolean":
		return true
	case "array":
		return []any{}
	case "null":
		return nil
	}
	obj := map[string]any{}
	props, _ := s["properties"].(map[string]any)
	if depth > 8 {
		return obj
	}
	var names []string
	if req, ok := s["required"].([]any); ok && len(req) > 0 {
		for _, r := range req {
			if n, ok := r.(string); ok {
				names = append(names, n)
			}
		}
	} else {
		for n := range props {
			names = append(names, n)
		}
		sort.Strings(names)
	}
	for _, n := range names {
		ps, _ := props[n].(map[string]any)
		obj[n] = exampleValue(ps, depth+1)
	}
	return obj
}

func compactJSON(raw json.RawMessage) string {
	var b bytes.Buffer
	if json.Compact(&b, raw) != nil {
		return string(raw)
	}
	return b.String()
}

// textFormatSchema returns the JSON schema of outputConfig.textFormat, or
// nil: the reply is then JSON built from it, like tool inputs.
func textFormatSchema(req *converseRequest) map[string]any {
	oc := req.OutputConfig
	if oc == nil || oc.TextFormat == nil || oc.TextFormat.Structure.JSONSchema == nil {
		return nil
	}
	s := schemaOf(json.RawMessage(oc.TextFormat.Structure.JSONSchema.Schema))
	if s == nil {
		s = map[string]any{}
	}
	return s
}

// thinkingBudget returns the extended-thinking budget the request enables, or
// 0.
func thinkingBudget(req *converseRequest) int {
	tc, ok := thinkingOf(req)
	if !ok || tc.Thinking == nil || tc.Thinking.Type != "enabled" || tc.Thinking.BudgetTokens == nil {
		return 0
	}
	return *tc.Thinking.BudgetTokens
}

func thinkingOf(req *converseRequest) (thinkingConfig, bool) {
	var tc thinkingConfig
	if len(req.AdditionalModelRequestFields) == 0 || json.Unmarshal(req.AdditionalModelRequestFields, &tc) != nil {
		return tc, false
	}
	return tc, tc.Thinking != nil
}
