package bedrockapi

import (
	"bytes"
	"encoding/json"

	"github.com/tollgate-gw/tollgate/internal/anthropic"
)

// Usage is the token usage of one call (Input excludes the cache reads and
// writes).
type Usage = anthropic.Usage

// metricsKey is where Bedrock puts its own counts in the last chunk of an
// InvokeModelWithResponseStream answer, whatever the model.
var metricsKey = []byte(`"amazon-bedrock-invocationMetrics"`)

// Meter reads the chunks of one InvokeModelWithResponseStream answer for
// what the call costs: Bedrock's invocation metrics in the last chunk, for
// any model; for Claude also Anthropic's usage in its events, for the input
// when the stream breaks before the metrics. Create one per request with
// [NewMeter]; it is not safe for concurrent use.
type Meter struct {
	claude      *anthropic.Meter // nil for another model
	usage       Usage
	metrics     bool
	outputBytes int
}

// NewMeter returns the Meter of one answer of family (a foundation model
// id).
func NewMeter(family string) *Meter {
	m := &Meter{}
	if anthropic.IsClaude(family) {
		m.claude = anthropic.NewMeter()
	}
	return m
}

// Add reads one chunk's bytes (the model's own JSON event).
func (m *Meter) Add(chunk []byte) {
	if m.claude != nil {
		m.claude.Add(chunk)
	} else {
		m.outputBytes += len(chunk) // the model's JSON around its text: an upper bound
	}
	if !bytes.Contains(chunk, metricsKey) {
		return
	}
	var ev struct {
		Metrics *struct {
			Input      int `json:"inputTokenCount"`
			Output     int `json:"outputTokenCount"`
			CacheRead  int `json:"cacheReadInputTokenCount"`
			CacheWrite int `json:"cacheWriteInputTokenCount"`
		} `json:"amazon-bedrock-invocationMetrics"`
	}
	if json.Unmarshal(chunk, &ev) == nil && ev.Metrics != nil {
		mt := ev.Metrics
		m.usage, m.metrics = Usage{Input: mt.Input, Output: mt.Output, CacheRead: mt.CacheRead, CacheWrite: mt.CacheWrite}, true
	}
}

// Usage returns the usage so far, and whether Bedrock reported it in full.
func (m *Meter) Usage() (Usage, bool) {
	if m.metrics || m.claude == nil {
		return m.usage, m.metrics
	}
	return m.claude.Usage()
}

// OutputBytes returns the bytes generated so far, for an estimate.
func (m *Meter) OutputBytes() int {
	if m.claude != nil {
		return m.claude.OutputBytes()
	}
	return m.outputBytes
}
