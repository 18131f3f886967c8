package metering

import (
	"bytes"
	"encoding/json"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

// cloudWatchUnits is CloudWatch's fixed list of units (StandardUnit).
var cloudWatchUnits = map[string]bool{
	"Seconds": true, "Microseconds": true, "Milliseconds": true, "Bytes": true, "Kilobytes": true,
	"Megabytes": true, "Gigabytes": true, "Terabytes": true, "Bits": true, "Kilobits": true,
	"Megabits": true, "Gigabits": true, "Terabits": true, "Percent": true, "Count": true,
	"Bytes/Second": true, "Kilobytes/Second": true, "Megabytes/Second": true, "Gigabytes/Second": true,
	"Terabytes/Second": true, "Bits/Second": true, "Kilobits/Second": true, "Megabits/Second": true,
	"Gigabits/Second": true, "Terabits/Second": true, "Count/Second": true, "None": true,
}

// validateEMF checks one line against the rules of the Embedded Metric Format
// specification and returns the decoded object.
func validateEMF(t *testing.T, line []byte) map[string]any {
	t.Helper()
	var root map[string]any
	dec := json.NewDecoder(bytes.NewReader(line))
	dec.UseNumber()
	if err := dec.Decode(&root); err != nil {
		t.Fatalf("not JSON: %v\n%s", err, line)
	}
	aws, ok := root["_aws"].(map[string]any)
	if !ok {
		t.Fatalf("no _aws object: %s", line)
	}
	ts, ok := aws["Timestamp"].(json.Number)
	if !ok {
		t.Fatalf("_aws.Timestamp not a number: %s", line)
	}
	if _, err := ts.Int64(); err != nil {
		t.Errorf("_aws.Timestamp %s not an integer (epoch ms)", ts)
	}
	directives, ok := aws["CloudWatchMetrics"].([]any)
	if !ok || len(directives) == 0 {
		t.Fatalf("_aws.CloudWatchMetrics not a non-empty array: %s", line)
	}
	for _, d := range directives {
		d := d.(map[string]any)
		if ns, ok := d["Namespace"].(string); !ok || ns == "" || len(ns) > 255 {
			t.Errorf("bad Namespace %v", d["Namespace"])
		}
		sets, ok := d["Dimensions"].([]any)
		if !ok {
			t.Fatalf("Dimensions not an array: %s", line)
		}
		for _, set := range sets {
			set := set.([]any)
			if len(set) > 30 {
				t.Errorf("dimension set of %d > 30", len(set))
			}
			for _, name := range set {
				name, ok := name.(string)
				if !ok {
					t.Fatalf("dimension name %v not a string", name)
				}
				v, ok := root[name].(string)
				if !ok || v == "" || len(v) > 1024 {
					t.Errorf("dimension %s: root member %#v, want a non-empty string", name, root[name])
				}
			}
		}
		metrics, ok := d["Metrics"].([]any)
		if !ok || len(metrics) > 100 {
			t.Fatalf("Metrics not an array of at most 100: %s", line)
		}
		for _, mt := range metrics {
			mt := mt.(map[string]any)
			name, ok := mt["Name"].(string)
			if !ok || name == "" || len(name) > 1024 {
				t.Fatalf("bad metric name %v", mt["Name"])
			}
			if u, ok := mt["Unit"]; ok && !cloudWatchUnits[u.(string)] {
				t.Errorf("metric %s: unit %q not one of CloudWatch's", name, u)
			}
			switch v := root[name].(type) {
			case json.Number:
			case []any:
				if len(v) > 100 {
					t.Errorf("metric %s: %d values > 100", name, len(v))
				}
			default:
				t.Errorf("metric %s: root member %#v, want a number", name, root[name])
			}
		}
	}
	return root
}

func emfLines(t *testing.T, b []byte) [][]byte {
	t.Helper()
	if len(b) == 0 || b[len(b)-1] != '\n' {
		t.Fatalf("output does not end in a newline: %q", b)
	}
	return bytes.Split(b[:len(b)-1], []byte("\n"))
}

func TestEMFLine(t *testing.T) {
	var out bytes.Buffer
	m, _ := newTestMeter(t, Options{EMF: &out})
	m.Record(Event{
		RequestID: "req-1", Time: t0.Add(123 * time.Millisecond), KeyID: "k1", Team: "ml", Model: "claude",
		ResolvedModel: "anthropic.claude-v1", Endpoint: "chat.completions", Stream: true, Status: 200,
		InputTokens: 100, OutputTokens: 20, CacheReadTokens: 5, CacheWriteTokens: 7, CostMicros: 1500,
		Latency: 1234567 * time.Microsecond, TimeToFirstToken: 250 * time.Millisecond, PolicyVersion: "abc123",
	})
	m.Record(Event{ // no team, unknown model, no stream: no TimeToFirstToken
		RequestID: "req-2", KeyID: "k2", Model: "gpt-9", Endpoint: "embeddings", Status: 502,
		UpstreamError: "ModelTimeoutException", Latency: 2 * time.Second, Estimated: true,
	})
	lines := emfLines(t, out.Bytes())
	if len(lines) != 2 {
		t.Fatalf("%d lines, want 2", len(lines))
	}
	var got []map[string]any
	for _, l := range lines {
		got = append(got, validateEMF(t, l))
	}
	metrics := func(ttft bool) []any {
		ms := []any{}
		for _, mt := range emfMetrics {
			if mt.name == "TimeToFirstToken" && !ttft {
				continue
			}
			ms = append(ms, map[string]any{"Name": mt.name, "Unit": mt.unit})
		}
		return ms
	}
	aws := func(ts int64, ttft bool) map[string]any {
		return map[string]any{
			"Timestamp": json.Number(fmt.Sprint(ts)),
			"CloudWatchMetrics": []any{map[string]any{
				"Namespace":  "Tollgate",
				"Dimensions": []any{[]any{"KeyId", "Model"}, []any{"Team"}, []any{"Model"}},
				"Metrics":    metrics(ttft),
			}},
		}
	}
	want := []map[string]any{{
		"_aws":  aws(t0.UnixMilli()+123, true),
		"KeyId": "k1", "Model": "claude", "Team": "ml",
		"Requests": json.Number("1"), "InputTokens": json.Number("100"), "OutputTokens": json.Number("20"),
		"CacheReadTokens": json.Number("5"), "CacheWriteTokens": json.Number("7"), "CostUSD": json.Number("0.0015"),
		"Latency": json.Number("1234.567"), "TimeToFirstToken": json.Number("250"),
		"RequestId": "req-1", "Status": json.Number("200"), "Stream": true, "Estimated": false,
		"PolicyVersion": "abc123", "ResolvedModel": "anthropic.claude-v1", "RequestedModel": "claude",
		"Endpoint": "chat.completions",
	}, {
		"_aws":  aws(t0.UnixMilli(), false),
		"KeyId": "k2", "Model": "other", "Team": "none",
		"Requests": json.Number("1"), "InputTokens": json.Number("0"), "OutputTokens": json.Number("0"),
		"CacheReadTokens": json.Number("0"), "CacheWriteTokens": json.Number("0"), "CostUSD": json.Number("0"),
		"Latency":   json.Number("2000"),
		"RequestId": "req-2", "Status": json.Number("502"), "Stream": false, "Estimated": true,
		"PolicyVersion": "", "ResolvedModel": "", "RequestedModel": "gpt-9", "Endpoint": "embeddings",
		"UpstreamError": "ModelTimeoutException",
	}}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("EMF lines (-want +got):\n%s", diff)
	}
}

func TestEMFEscaping(t *testing.T) {
	var out bytes.Buffer
	m, _ := newTestMeter(t, Options{EMF: &out, Namespace: "My\"NS"})
	m.Record(Event{RequestID: "a\"b\nc", KeyID: "k1", Team: "t\x00", Model: "claude\xff", PolicyVersion: "\\"})
	lines := emfLines(t, out.Bytes())
	if len(lines) != 1 {
		t.Fatalf("%d lines, want 1: %q", len(lines), out.Bytes())
	}
	root := validateEMF(t, lines[0])
	if root["RequestId"] != "a\"b\nc" || root["Team"] != "t\x00" || root["Model"] != Other {
		t.Errorf("escaped members read back wrong: %v", root)
	}
}

// lineWriter fails the test when a Write is not exactly one whole line.
type lineWriter struct {
	mu    sync.Mutex
	lines int
	bad   []string
}

func (w *lineWriter) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if bytes.IndexByte(p, '\n') != len(p)-1 || !json.Valid(p) {
		w.bad = append(w.bad, string(p))
	}
	w.lines++
	return len(p), nil
}

func TestEMFOneWritePerLine(t *testing.T) {
	w := &lineWriter{}
	m, _ := newTestMeter(t, Options{EMF: w})
	const goroutines, each = 8, 200
	var wg sync.WaitGroup
	for g := range goroutines {
		wg.Go(func() {
			for i := range each {
				m.Record(Event{RequestID: fmt.Sprintf("g%d-%d", g, i), KeyID: "k1", Model: "claude",
					Endpoint: "chat.completions", Status: 200, InputTokens: int64(i), Stream: i%2 == 0,
					TimeToFirstToken: time.Duration(i) * time.Millisecond})
			}
		})
	}
	wg.Wait()
	if w.lines != goroutines*each || len(w.bad) > 0 {
		t.Errorf("%d writes (want %d), %d not one whole JSON line, e.g. %q", w.lines, goroutines*each, len(w.bad), w.bad)
	}
}

func TestDirectiveWithinLimits(t *testing.T) {
	if len(emfMetrics) > 100 {
		t.Errorf("%d metrics in the directive > 100", len(emfMetrics))
	}
	for _, set := range emfDimensionSets {
		if len(set) > 30 {
			t.Errorf("dimension set %v > 30", set)
		}
	}
}
