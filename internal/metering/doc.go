// Package metering turns the one usage event of each request into metrics:
// Prometheus series on a registry the caller passes in, an optional CloudWatch
// Embedded Metric Format (EMF) log line, and an optional in-memory aggregation
// that [CloudWatch] sends with PutMetricData.
//
// Budget settlement produces exactly one [Event] per request, failed and
// disconnected ones included, and hands it to [Meter.Record]. Everything else
// the gateway knows (requests in flight, admission refusals, rate-limit
// refusals, fallback moves, budget alert deliveries, policy reloads, budget
// state) reaches the meter through the other [Meter] methods; the
// rate-limit refusals, fallback moves and alert deliveries are also counts
// in CloudWatch, each occurrence an EMF line of its own.
//
// The metric names and labels are a contract that the dashboards in
// deploy/dashboards and the alerts depend on; docs/metering.md lists them.
// Label cardinality is bounded: a key that is not in the current policy and a
// model the gateway does not know are recorded as "other" (see
// [Options.KnownKey] and [Options.KnownModel]).
//
// Record is on the request path: it costs about a microsecond, never does I/O
// other than the one EMF Write, and never waits on CloudWatch.
package metering
