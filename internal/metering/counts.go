package metering

import (
	"strconv"
	"time"

	"github.com/tollgate-gw/tollgate/internal/jsonstr"
)

// This file holds the CloudWatch side of the counts that are not a
// request's line: rate-limit refusals, fallback moves and alert deliveries.
// Each occurrence is one EMF line of its own, with a directive of its own
// (one metric, one dimension set of two low-cardinality values, never a
// secret), and one sample of a count that PutMetricData sends, so that the
// CloudWatch dashboard shows them in both modes, as it does the request's
// metrics.

// countMetric is one such count: its metric name, its two dimensions, and
// an optional property (a third value, in the EMF line only: properties
// cost nothing per value).
type countMetric struct {
	name string
	dims [2]string
	prop string
}

// The counts, indexes in countMetrics.
const (
	countRateLimit = iota
	countFallback
	countAlert
)

// countMetrics are the counts' names, dimensions and properties.
var countMetrics = [...]countMetric{
	countRateLimit: {name: "RateLimitRefusals", dims: [2]string{"KeyId", "LimitType"}, prop: "Scope"},
	countFallback:  {name: "FallbackAttempts", dims: [2]string{"FromModel", "Reason"}, prop: "ToModel"},
	countAlert:     {name: "AlertsSent", dims: [2]string{"Destination", "Outcome"}},
}

// count sends one occurrence of countMetrics[i] with dimension values a, b
// and property value p to EMF and PutMetricData, whichever are on.
func (m *Meter) count(i int, a, b, p string) {
	if m.emf == nil && m.cw == nil {
		return
	}
	t := m.now()
	if m.emf != nil {
		m.emf.writeCount(i, t, a, b, p)
	}
	if m.cw != nil {
		m.cw.addCount(i, t, a, b)
	}
}

// writeCount writes the EMF line of one count in one Write under e.mu.
func (e *emfEncoder) writeCount(i int, t time.Time, a, b, p string) {
	c := &countMetrics[i]
	buf := make([]byte, 0, 256)
	buf = append(buf, `{"_aws":{"Timestamp":`...)
	buf = strconv.AppendInt(buf, t.UnixMilli(), 10)
	buf = append(buf, `,"CloudWatchMetrics":[{"Namespace":`...)
	buf = jsonstr.Append(buf, e.namespace)
	buf = append(buf, `,"Dimensions":[[`...)
	buf = jsonstr.Append(buf, c.dims[0])
	buf = append(buf, ',')
	buf = jsonstr.Append(buf, c.dims[1])
	buf = append(buf, `]],"Metrics":[{"Name":`...)
	buf = jsonstr.Append(buf, c.name)
	buf = append(buf, `,"Unit":"Count"}]}]},`...)
	buf = jsonstr.Append(buf, c.dims[0])
	buf = append(buf, ':')
	buf = jsonstr.Append(buf, a)
	buf = append(buf, ',')
	buf = jsonstr.Append(buf, c.dims[1])
	buf = append(buf, ':')
	buf = jsonstr.Append(buf, b)
	if c.prop != "" {
		buf = append(buf, ',')
		buf = jsonstr.Append(buf, c.prop)
		buf = append(buf, ':')
		buf = jsonstr.Append(buf, p)
	}
	buf = append(buf, ',')
	buf = jsonstr.Append(buf, c.name)
	buf = append(buf, ":1}\n"...)
	e.mu.Lock()
	_, _ = e.w.Write(buf)
	e.mu.Unlock()
}
