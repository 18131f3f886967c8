package metering

import (
	"io"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// benchEvents is a mix of keys and models like a busy gateway's.
func benchEvents() []Event {
	keys := []string{"k1", "k2", "k3", "k4"}
	models := []string{"claude", "nova", "llama", "unknown-model"}
	var evs []Event
	for i := range 64 {
		evs = append(evs, Event{
			RequestID: "req-0123456789abcdef", Time: t0.Add(time.Duration(i) * time.Second),
			KeyID: keys[i%len(keys)], Team: "ml", Model: models[i/4%len(models)],
			ResolvedModel: "anthropic.claude-3-5-sonnet-20241022-v2:0", Endpoint: "chat.completions",
			Stream: i%2 == 0, Status: 200, InputTokens: 1234, OutputTokens: 321, CacheReadTokens: 50,
			CostMicros: 12345, Latency: 2345 * time.Millisecond, TimeToFirstToken: time.Duration(i%2) * 456 * time.Millisecond,
			PolicyVersion: "9f86d081884c7d65",
		})
	}
	return evs
}

func benchMeter(b *testing.B, opts Options) *Meter {
	opts.KnownKey = known("k1", "k2", "k3", "k4")
	opts.KnownModel = known("claude", "nova", "llama")
	m, err := New(prometheus.NewRegistry(), opts)
	if err != nil {
		b.Fatal(err)
	}
	return m
}

// BenchmarkRecord reports the cost of Record per event: Prometheus only, with
// an EMF line (to io.Discard), with CloudWatch aggregation, and with both
// from all CPUs at once.
func BenchmarkRecord(b *testing.B) {
	evs := benchEvents()
	run := func(b *testing.B, m *Meter) {
		b.ReportAllocs()
		i := 0
		for b.Loop() {
			m.Record(evs[i%len(evs)])
			i++
		}
	}
	b.Run("prometheus", func(b *testing.B) { run(b, benchMeter(b, Options{})) })
	b.Run("emf", func(b *testing.B) { run(b, benchMeter(b, Options{EMF: io.Discard})) })
	b.Run("cloudwatch", func(b *testing.B) {
		run(b, benchMeter(b, Options{CloudWatch: newCloudWatch(nil, CloudWatchOptions{MaxPending: 1 << 30})}))
	})
	b.Run("emf+cloudwatch-parallel", func(b *testing.B) {
		m := benchMeter(b, Options{EMF: io.Discard, CloudWatch: newCloudWatch(nil, CloudWatchOptions{MaxPending: 1 << 30})})
		b.ReportAllocs()
		b.RunParallel(func(pb *testing.PB) {
			i := 0
			for pb.Next() {
				m.Record(evs[i%len(evs)])
				i++
			}
		})
	})
}
