package metering

import (
	"io"
	"strconv"
	"sync"
	"time"

	"github.com/tollgate-gw/tollgate/internal/jsonstr"
)

// emfMetric is one metric of the EMF directive and of PutMetricData.
type emfMetric struct {
	name, unit string
}

// The metrics of each event, in the order of their values in eventValues.
// Units come from CloudWatch's fixed list.
var emfMetrics = [...]emfMetric{
	{"Requests", "Count"},
	{"InputTokens", "Count"},
	{"OutputTokens", "Count"},
	{"CacheReadTokens", "Count"},
	{"CacheWriteTokens", "Count"},
	{"CostUSD", "None"},
	{"Latency", "Milliseconds"},
	{"TimeToFirstToken", "Milliseconds"},
}

const (
	nMetrics  = len(emfMetrics)
	ttftIndex = nMetrics - 1
)

// emfDimensionSets are the dimension sets of the directive, and the
// aggregation sets of PutMetricData. Each distinct combination of their
// values is one billed custom metric per metric name.
var emfDimensionSets = [][]string{{"KeyId", "Model"}, {"Team"}, {"Model"}}

// eventValues returns the metric values of ev, in emfMetrics order, and
// whether it has a time to first token (only streams that produced content
// do; the metric is left out rather than reported as 0).
func eventValues(ev *Event) (v [nMetrics]float64, hasTTFT bool) {
	v[0] = 1
	v[1] = float64(max(ev.InputTokens, 0))
	v[2] = float64(max(ev.OutputTokens, 0))
	v[3] = float64(max(ev.CacheReadTokens, 0))
	v[4] = float64(max(ev.CacheWriteTokens, 0))
	v[5] = float64(max(ev.CostMicros, 0)) / 1e6
	v[6] = millis(ev.Latency)
	v[7] = millis(ev.TimeToFirstToken)
	return v, ev.TimeToFirstToken > 0
}

func millis(d time.Duration) float64 { return float64(max(d, 0)) / float64(time.Millisecond) }

// emfEncoder writes one EMF line per event, each in one Write under mu.
type emfEncoder struct {
	mu sync.Mutex
	w  io.Writer
	// namespace is the lines' CloudWatch namespace.
	namespace string
	// directive and directiveNoTTFT are the "CloudWatchMetrics" member and
	// what follows it up to the first root member, built once.
	directive, directiveNoTTFT []byte
	bufs                       sync.Pool
}

func newEMFEncoder(w io.Writer, namespace string) *emfEncoder {
	e := &emfEncoder{w: w, namespace: namespace}
	e.directive = appendDirective(nil, namespace, true)
	e.directiveNoTTFT = appendDirective(nil, namespace, false)
	e.bufs.New = func() any { b := make([]byte, 0, 1024); return &b }
	return e
}

func appendDirective(b []byte, namespace string, ttft bool) []byte {
	b = append(b, `,"CloudWatchMetrics":[{"Namespace":`...)
	b = jsonstr.Append(b, namespace)
	b = append(b, `,"Dimensions":[`...)
	for i, set := range emfDimensionSets {
		if i > 0 {
			b = append(b, ',')
		}
		b = append(b, '[')
		for j, d := range set {
			if j > 0 {
				b = append(b, ',')
			}
			b = jsonstr.Append(b, d)
		}
		b = append(b, ']')
	}
	b = append(b, `],"Metrics":[`...)
	for i, mt := range emfMetrics {
		if i == ttftIndex && !ttft {
			continue
		}
		if i > 0 {
			b = append(b, ',')
		}
		b = append(b, `{"Name":`...)
		b = jsonstr.Append(b, mt.name)
		b = append(b, `,"Unit":`...)
		b = jsonstr.Append(b, mt.unit)
		b = append(b, '}')
	}
	return append(b, "]}]},"...)
}

// write encodes and writes the line of ev; key, team and model are the
// collapsed dimension values.
func (e *emfEncoder) write(ev *Event, t time.Time, key, team, model string) {
	bp := e.bufs.Get().(*[]byte)
	b := appendEMF((*bp)[:0], e, ev, t, key, team, model)
	e.mu.Lock()
	_, _ = e.w.Write(b)
	e.mu.Unlock()
	if cap(b) <= 64<<10 { // a huge line (odd request id) is not kept
		*bp = b
		e.bufs.Put(bp)
	}
}

func appendEMF(b []byte, e *emfEncoder, ev *Event, t time.Time, key, team, model string) []byte {
	v, hasTTFT := eventValues(ev)
	b = append(b, `{"_aws":{"Timestamp":`...)
	b = strconv.AppendInt(b, t.UnixMilli(), 10)
	if hasTTFT {
		b = append(b, e.directive...)
	} else {
		b = append(b, e.directiveNoTTFT...)
	}
	b = append(b, `"KeyId":`...)
	b = jsonstr.Append(b, key)
	b = append(b, `,"Model":`...)
	b = jsonstr.Append(b, model)
	b = append(b, `,"Team":`...)
	b = jsonstr.Append(b, team)
	for i, mt := range emfMetrics {
		if i == ttftIndex && !hasTTFT {
			continue
		}
		b = append(b, ',', '"')
		b = append(b, mt.name...)
		b = append(b, '"', ':')
		b = appendNumber(b, v[i])
	}
	b = append(b, `,"RequestId":`...)
	b = jsonstr.Append(b, ev.RequestID)
	b = append(b, `,"Status":`...)
	b = strconv.AppendInt(b, int64(ev.Status), 10)
	b = append(b, `,"Stream":`...)
	b = strconv.AppendBool(b, ev.Stream)
	b = append(b, `,"Estimated":`...)
	b = strconv.AppendBool(b, ev.Estimated)
	b = append(b, `,"PolicyVersion":`...)
	b = jsonstr.Append(b, ev.PolicyVersion)
	b = append(b, `,"ResolvedModel":`...)
	b = jsonstr.Append(b, ev.ResolvedModel)
	b = append(b, `,"RequestedModel":`...)
	b = jsonstr.Append(b, ev.Model)
	b = append(b, `,"Endpoint":`...)
	b = jsonstr.Append(b, ev.Endpoint)
	if ev.UpstreamError != "" {
		b = append(b, `,"UpstreamError":`...)
		b = jsonstr.Append(b, ev.UpstreamError)
	}
	return append(b, '}', '\n')
}

// appendNumber appends a finite float: integers without a fraction,
// others in the shortest form that reads back exactly.
func appendNumber(b []byte, f float64) []byte {
	if f == float64(int64(f)) && f < 1<<53 && f > -(1<<53) {
		return strconv.AppendInt(b, int64(f), 10)
	}
	return strconv.AppendFloat(b, f, 'f', -1, 64)
}
