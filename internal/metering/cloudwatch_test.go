package metering

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/tollgate-gw/tollgate/internal/metering/cwtest"
)

// startRun runs cw.Run until the returned stop is called; stop returns Run's
// error.
func startRun(t *testing.T, cw *CloudWatch) (stop func() error) {
	t.Helper()
	ctx, cancel := context.WithCancel(t.Context())
	errc := make(chan error, 1)
	go func() { errc <- cw.Run(ctx) }()
	var once sync.Once
	var err error
	stop = func() error {
		once.Do(func() { cancel(); err = <-errc })
		return err
	}
	t.Cleanup(func() { stop() })
	return stop
}

// eventually polls cond until it holds or 10 s pass.
func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func cwEvents() []Event {
	return []Event{
		{Time: t0, KeyID: "k1", Team: "ml", Model: "claude", Endpoint: "chat.completions", Stream: true, Status: 200,
			InputTokens: 100, OutputTokens: 20, CacheReadTokens: 5, CostMicros: 1500,
			Latency: 700 * time.Millisecond, TimeToFirstToken: 200 * time.Millisecond},
		{Time: t0.Add(10 * time.Second), KeyID: "k1", Team: "ml", Model: "claude", Endpoint: "chat.completions", Status: 200,
			InputTokens: 10, OutputTokens: 2, CostMicros: 500, Latency: 300 * time.Millisecond},
		{Time: t0.Add(time.Minute), KeyID: "k2", Model: "nova", Endpoint: "embeddings", Status: 200,
			InputTokens: 5, CostMicros: 1, Latency: 50 * time.Millisecond},
	}
}

func TestCloudWatchAggregatesAndBatches(t *testing.T) {
	fake := cwtest.New(t, nil)
	cw := NewCloudWatch(fake.Client(), CloudWatchOptions{FlushInterval: time.Hour, BatchSize: 10})
	m, reg := newTestMeter(t, Options{CloudWatch: cw, Namespace: "TollgateTest"})
	stop := startRun(t, cw)
	for _, ev := range cwEvents() {
		m.Record(ev)
	}
	// Nothing is sent before the interval; the shutdown flush sends it all.
	if err := stop(); err != nil {
		t.Fatal(err)
	}

	calls := fake.Calls()
	var all []cwtest.Datum
	for _, c := range calls {
		if c.Namespace != "TollgateTest" || !c.OK {
			t.Errorf("call to namespace %q ok=%v", c.Namespace, c.OK)
		}
		if len(c.Data) > 10 {
			t.Errorf("batch of %d > BatchSize 10", len(c.Data))
		}
		all = append(all, c.Data...)
	}
	// Minute 15:09: 3 sets × 8 metrics; minute 15:10 (no stream): 3 × 7.
	if len(all) != 45 || len(calls) != 5 {
		t.Fatalf("%d data points in %d calls, want 45 in 5", len(all), len(calls))
	}
	m1, m2 := time.Date(2026, 3, 14, 15, 9, 0, 0, time.UTC), time.Date(2026, 3, 14, 15, 10, 0, 0, time.UTC)
	find := func(name, dims string, ts time.Time) cwtest.Datum {
		for _, d := range all {
			if d.Name == name && d.Dims == dims && d.Time.Equal(ts) {
				return d
			}
		}
		t.Errorf("no %s{%s} at %s", name, dims, ts)
		return cwtest.Datum{}
	}
	got := []cwtest.Datum{
		find("Requests", "Team=ml", m1),
		find("Latency", "KeyId=k1,Model=claude", m1),
		find("TimeToFirstToken", "Model=claude", m1),
		find("InputTokens", "KeyId=k1,Model=claude", m1),
		find("CostUSD", "Model=claude", m1),
		find("InputTokens", "Team=none", m2),
	}
	want := []cwtest.Datum{
		{Name: "Requests", Dims: "Team=ml", Time: m1, Unit: "Count", Count: 2, Sum: 2, Min: 1, Max: 1},
		{Name: "Latency", Dims: "KeyId=k1,Model=claude", Time: m1, Unit: "Milliseconds", Count: 2, Sum: 1000, Min: 300, Max: 700},
		{Name: "TimeToFirstToken", Dims: "Model=claude", Time: m1, Unit: "Milliseconds", Count: 1, Sum: 200, Min: 200, Max: 200},
		{Name: "InputTokens", Dims: "KeyId=k1,Model=claude", Time: m1, Unit: "Count", Count: 2, Sum: 110, Min: 10, Max: 100},
		{Name: "CostUSD", Dims: "Model=claude", Time: m1, Unit: "None", Count: 2, Sum: 0.002, Min: 0.0005, Max: 0.0015},
		{Name: "InputTokens", Dims: "Team=none", Time: m2, Unit: "Count", Count: 1, Sum: 5, Min: 5, Max: 5},
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("data points (-want +got):\n%s", diff)
	}
	for _, d := range all {
		if d.Name == "TimeToFirstToken" && d.Time.Equal(m2) {
			t.Errorf("TimeToFirstToken sent for a minute without streams: %+v", d)
		}
	}
	compare(t, reg, `
# HELP tollgate_cloudwatch_dropped_total CloudWatch data points (metric values per dimension set) never delivered: over the buffer bound, failed every attempt, or left at shutdown.
# TYPE tollgate_cloudwatch_dropped_total counter
tollgate_cloudwatch_dropped_total 0
# HELP tollgate_cloudwatch_flushes_total PutMetricData calls, by result (success, failure).
# TYPE tollgate_cloudwatch_flushes_total counter
tollgate_cloudwatch_flushes_total{result="failure"} 0
tollgate_cloudwatch_flushes_total{result="success"} 5
`, "tollgate_cloudwatch_dropped_total", "tollgate_cloudwatch_flushes_total")
}

func TestCloudWatchFullBatches(t *testing.T) {
	fake := cwtest.New(t, nil)
	cw := NewCloudWatch(fake.Client(), CloudWatchOptions{FlushInterval: time.Hour, BatchSize: MaxBatchSize})
	m, _ := newTestMeter(t, Options{CloudWatch: cw, KnownKey: func(string) bool { return true }})
	stop := startRun(t, cw)
	for i := range 200 {
		m.Record(Event{Time: t0, KeyID: fmt.Sprintf("key-%03d", i), Model: "claude", Status: 200, InputTokens: 1})
	}
	if err := stop(); err != nil {
		t.Fatal(err)
	}
	// 200 {KeyId, Model} + 1 {Team} + 1 {Model}, 7 metrics each: 1414 in 2 calls.
	var n []int
	for _, c := range fake.Calls() {
		n = append(n, len(c.Data))
		if !c.Gzip {
			t.Errorf("a batch of %d bytes was not gzip-compressed by the SDK", c.Bytes)
		}
		if c.Bytes > 1<<20 {
			t.Errorf("a batch of %d bytes exceeds PutMetricData's 1 MB", c.Bytes)
		}
		t.Logf("%d data points: %d bytes of CBOR", len(c.Data), c.Bytes)
	}
	if diff := cmp.Diff([]int{1000, 414}, n); diff != "" {
		t.Errorf("batch sizes (-want +got):\n%s", diff)
	}
}

func TestCloudWatchRetriesThenSucceeds(t *testing.T) {
	fake := cwtest.New(t, func(call int) bool { return call < 2 })
	cw := NewCloudWatch(fake.Client(), CloudWatchOptions{FlushInterval: 20 * time.Millisecond, Backoff: 5 * time.Millisecond})
	m, reg := newTestMeter(t, Options{CloudWatch: cw})
	stop := startRun(t, cw)
	m.Record(cwEvents()[0])
	eventually(t, "a successful call", func() bool {
		return slices.ContainsFunc(fake.Calls(), func(c cwtest.Call) bool { return c.OK })
	})
	if err := stop(); err != nil {
		t.Fatal(err)
	}
	calls := fake.Calls()
	if len(calls) != 3 || calls[0].OK || calls[1].OK || !calls[2].OK {
		t.Fatalf("calls ok: %v, want failure, failure, success", okOf(calls))
	}
	if diff := cmp.Diff(calls[0].Data, calls[2].Data); diff != "" || len(calls[2].Data) != 24 {
		t.Errorf("retried batch differs or has %d points, want 24:\n%s", len(calls[2].Data), diff)
	}
	compare(t, reg, `
# HELP tollgate_cloudwatch_dropped_total CloudWatch data points (metric values per dimension set) never delivered: over the buffer bound, failed every attempt, or left at shutdown.
# TYPE tollgate_cloudwatch_dropped_total counter
tollgate_cloudwatch_dropped_total 0
# HELP tollgate_cloudwatch_flushes_total PutMetricData calls, by result (success, failure).
# TYPE tollgate_cloudwatch_flushes_total counter
tollgate_cloudwatch_flushes_total{result="failure"} 2
tollgate_cloudwatch_flushes_total{result="success"} 1
`, "tollgate_cloudwatch_dropped_total", "tollgate_cloudwatch_flushes_total")
}

func okOf(calls []cwtest.Call) []bool {
	var ok []bool
	for _, c := range calls {
		ok = append(ok, c.OK)
	}
	return ok
}

func TestCloudWatchPersistentFailureDrops(t *testing.T) {
	fake := cwtest.New(t, func(int) bool { return true })
	cw := NewCloudWatch(fake.Client(), CloudWatchOptions{
		FlushInterval: 20 * time.Millisecond, Backoff: 5 * time.Millisecond, MaxAttempts: 3,
	})
	m, reg := newTestMeter(t, Options{CloudWatch: cw})
	stop := startRun(t, cw)
	m.Record(cwEvents()[1]) // no stream: 3 sets × 7 metrics
	eventually(t, "the batch to be dropped", func() bool { return testutil.ToFloat64(cw.dropped) == 21 })
	if err := stop(); err != nil {
		t.Errorf("Run with nothing left to flush: %v", err)
	}
	if got := testutil.ToFloat64(cw.flushFail); got != 3 {
		t.Errorf("failed calls = %v, want MaxAttempts 3", got)
	}
	if n, err := testutil.GatherAndCount(reg, "tollgate_cloudwatch_dropped_total"); err != nil || n != 1 {
		t.Errorf("dropped series = %d, %v", n, err)
	}
}

func TestCloudWatchShutdownFlushIsBounded(t *testing.T) {
	fake := cwtest.New(t, func(int) bool { return true })
	cw := NewCloudWatch(fake.Client(), CloudWatchOptions{
		FlushInterval: time.Hour, Backoff: 5 * time.Millisecond, MaxAttempts: 1000, ShutdownTimeout: 100 * time.Millisecond,
	})
	m, _ := newTestMeter(t, Options{CloudWatch: cw})
	stop := startRun(t, cw)
	m.Record(cwEvents()[0])
	err := stop()
	if err == nil || !strings.Contains(err.Error(), "dropped 24 data points") {
		t.Errorf("Run = %v, want the 24 dropped points reported", err)
	}
	if got := testutil.ToFloat64(cw.dropped); got != 24 {
		t.Errorf("dropped = %v, want 24", got)
	}
	if len(fake.Calls()) < 2 {
		t.Errorf("%d calls during shutdown, want retries", len(fake.Calls()))
	}
}

func TestCloudWatchBoundedBuffer(t *testing.T) {
	cw := newCloudWatch(nil, CloudWatchOptions{MaxPending: 10})
	m, _ := newTestMeter(t, Options{CloudWatch: cw})
	m.Record(cwEvents()[1]) // 3 sets × 7: only the first set fits
	if got := testutil.ToFloat64(cw.dropped); got != 14 {
		t.Errorf("dropped = %v, want 14", got)
	}
	if got := len(cw.enqueue(nil)); got != 7 {
		t.Errorf("queued %d points, want 7", got)
	}
	// Points awaiting a retry count against the bound too.
	m.Record(cwEvents()[1])
	if got := testutil.ToFloat64(cw.dropped); got != 35 {
		t.Errorf("dropped = %v, want 35", got)
	}
}

func TestRecordDoesNotWaitForCloudWatch(t *testing.T) {
	fake := cwtest.New(t, nil)
	fake.Hold = make(chan struct{})
	cw := NewCloudWatch(fake.Client(), CloudWatchOptions{FlushInterval: 10 * time.Millisecond})
	m, _ := newTestMeter(t, Options{CloudWatch: cw})
	stop := startRun(t, cw)
	m.Record(cwEvents()[0])
	time.Sleep(50 * time.Millisecond) // a flush is now stuck in the fake
	done := make(chan struct{})
	go func() {
		for range 1000 {
			m.Record(cwEvents()[1])
		}
		close(done)
	}()
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		t.Error("Record blocked behind a PutMetricData call")
	}
	close(fake.Hold)
	if err := stop(); err != nil {
		t.Fatal(err)
	}
	var requests float64
	for _, c := range fake.Calls() {
		for _, d := range c.Data {
			if d.Name == "Requests" && d.Dims == "Model=claude" {
				requests += d.Sum
			}
		}
	}
	if requests != 1001 {
		t.Errorf("Requests delivered = %v, want 1001", requests)
	}
}
