package metering

import (
	"compress/gzip"
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/cloudwatch"
	"github.com/aws/smithy-go/encoding/cbor"
	"github.com/google/go-cmp/cmp"
	"github.com/prometheus/client_golang/prometheus/testutil"
)

// datum is a MetricDatum as the fake CloudWatch decoded it from the wire.
type datum struct {
	Name                 string
	Dims                 string // "KeyId=k1,Model=claude"
	Time                 time.Time
	Unit                 string
	Count, Sum, Min, Max float64
}

type putCall struct {
	OK        bool
	Gzip      bool // the body was gzip-compressed
	Bytes     int  // the body's size, uncompressed
	Namespace string
	Data      []datum
}

// fakeCloudWatch is CloudWatch's PutMetricData as the SDK talks to it: the
// Smithy RPC v2 CBOR protocol (POST /service/GraniteServiceVersion20100801/
// operation/PutMetricData, Content-Type application/cbor, gzip above the
// SDK's compression threshold).
type fakeCloudWatch struct {
	t    *testing.T
	srv  *httptest.Server
	fail func(call int) bool // nil: every call succeeds
	hold chan struct{}       // if not nil, each call waits for it to be closed

	mu    sync.Mutex
	calls []putCall
}

func newFakeCloudWatch(t *testing.T, fail func(int) bool) *fakeCloudWatch {
	f := &fakeCloudWatch{t: t, fail: fail}
	f.srv = httptest.NewServer(http.HandlerFunc(f.serve))
	t.Cleanup(f.srv.Close)
	return f
}

func (f *fakeCloudWatch) serve(w http.ResponseWriter, r *http.Request) {
	if f.hold != nil {
		<-f.hold
	}
	call, err := decodePut(r)
	if err != nil {
		f.t.Errorf("fake CloudWatch: %v", err)
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	f.mu.Lock()
	n := len(f.calls)
	call.OK = f.fail == nil || !f.fail(n)
	f.calls = append(f.calls, call)
	f.mu.Unlock()

	w.Header().Set("Content-Type", "application/cbor")
	w.Header().Set("Smithy-Protocol", "rpc-v2-cbor")
	if !call.OK {
		w.WriteHeader(http.StatusInternalServerError)
		w.Write(cbor.Encode(cbor.Map{"__type": cbor.String("InternalServiceFault"), "Message": cbor.String("injected")}))
		return
	}
	w.Write(cbor.Encode(cbor.Map{}))
}

func decodePut(r *http.Request) (putCall, error) {
	if r.Method != http.MethodPost || r.URL.Path != "/service/GraniteServiceVersion20100801/operation/PutMetricData" {
		return putCall{}, fmt.Errorf("unexpected %s %s", r.Method, r.URL.Path)
	}
	if ct, p := r.Header.Get("Content-Type"), r.Header.Get("Smithy-Protocol"); ct != "application/cbor" || p != "rpc-v2-cbor" {
		return putCall{}, fmt.Errorf("Content-Type %q, Smithy-Protocol %q: not RPC v2 CBOR", ct, p)
	}
	if !strings.HasPrefix(r.Header.Get("Authorization"), "AWS4-HMAC-SHA256 ") {
		return putCall{}, fmt.Errorf("request not signed with SigV4")
	}
	var body io.Reader = r.Body
	gzipped := r.Header.Get("Content-Encoding") == "gzip"
	if gzipped {
		zr, err := gzip.NewReader(r.Body)
		if err != nil {
			return putCall{}, err
		}
		body = zr
	}
	raw, err := io.ReadAll(body)
	if err != nil {
		return putCall{}, err
	}
	v, err := cbor.Decode(raw)
	if err != nil {
		return putCall{}, err
	}
	in, ok := v.(cbor.Map)
	if !ok {
		return putCall{}, fmt.Errorf("body is %T, want a map", v)
	}
	call := putCall{Gzip: gzipped, Bytes: len(raw), Namespace: string(in["Namespace"].(cbor.String))}
	for _, d := range in["MetricData"].(cbor.List) {
		d := d.(cbor.Map)
		var dims []string
		for _, dim := range d["Dimensions"].(cbor.List) {
			dim := dim.(cbor.Map)
			dims = append(dims, string(dim["Name"].(cbor.String))+"="+string(dim["Value"].(cbor.String)))
		}
		ts, err := cbor.AsTime(d["Timestamp"])
		if err != nil {
			return putCall{}, err
		}
		sv := d["StatisticValues"].(cbor.Map)
		f := func(k string) float64 {
			x, err := cbor.AsFloat64(sv[k])
			if err != nil {
				panic(err)
			}
			return x
		}
		call.Data = append(call.Data, datum{
			Name: string(d["MetricName"].(cbor.String)), Dims: strings.Join(dims, ","), Time: ts.UTC(),
			Unit: string(d["Unit"].(cbor.String)), Count: f("SampleCount"), Sum: f("Sum"), Min: f("Minimum"), Max: f("Maximum"),
		})
	}
	return call, nil
}

func (f *fakeCloudWatch) Calls() []putCall {
	f.mu.Lock()
	defer f.mu.Unlock()
	return slices.Clone(f.calls)
}

// client returns an SDK client pointed at the fake, with the SDK's own retries
// off so that the counts below are the meter's, and the compression threshold
// that config.LoadDefaultConfig sets.
func (f *fakeCloudWatch) client() *cloudwatch.Client {
	return cloudwatch.New(cloudwatch.Options{
		Region:       "us-east-1",
		BaseEndpoint: aws.String(f.srv.URL),
		Credentials: aws.CredentialsProviderFunc(func(context.Context) (aws.Credentials, error) {
			return aws.Credentials{AccessKeyID: "AKIDEXAMPLE", SecretAccessKey: "secret"}, nil
		}),
		RetryMaxAttempts:            1,
		RequestMinCompressSizeBytes: 10240,
	})
}

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
	fake := newFakeCloudWatch(t, nil)
	cw := NewCloudWatch(fake.client(), CloudWatchOptions{FlushInterval: time.Hour, BatchSize: 10})
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
	var all []datum
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
	find := func(name, dims string, ts time.Time) datum {
		for _, d := range all {
			if d.Name == name && d.Dims == dims && d.Time.Equal(ts) {
				return d
			}
		}
		t.Errorf("no %s{%s} at %s", name, dims, ts)
		return datum{}
	}
	got := []datum{
		find("Requests", "Team=ml", m1),
		find("Latency", "KeyId=k1,Model=claude", m1),
		find("TimeToFirstToken", "Model=claude", m1),
		find("InputTokens", "KeyId=k1,Model=claude", m1),
		find("CostUSD", "Model=claude", m1),
		find("InputTokens", "Team=none", m2),
	}
	want := []datum{
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
	fake := newFakeCloudWatch(t, nil)
	cw := NewCloudWatch(fake.client(), CloudWatchOptions{FlushInterval: time.Hour, BatchSize: MaxBatchSize})
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
	fake := newFakeCloudWatch(t, func(call int) bool { return call < 2 })
	cw := NewCloudWatch(fake.client(), CloudWatchOptions{FlushInterval: 20 * time.Millisecond, Backoff: 5 * time.Millisecond})
	m, reg := newTestMeter(t, Options{CloudWatch: cw})
	stop := startRun(t, cw)
	m.Record(cwEvents()[0])
	eventually(t, "a successful call", func() bool {
		return slices.ContainsFunc(fake.Calls(), func(c putCall) bool { return c.OK })
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

func okOf(calls []putCall) []bool {
	var ok []bool
	for _, c := range calls {
		ok = append(ok, c.OK)
	}
	return ok
}

func TestCloudWatchPersistentFailureDrops(t *testing.T) {
	fake := newFakeCloudWatch(t, func(int) bool { return true })
	cw := NewCloudWatch(fake.client(), CloudWatchOptions{
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
	fake := newFakeCloudWatch(t, func(int) bool { return true })
	cw := NewCloudWatch(fake.client(), CloudWatchOptions{
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
	fake := newFakeCloudWatch(t, nil)
	fake.hold = make(chan struct{})
	cw := NewCloudWatch(fake.client(), CloudWatchOptions{FlushInterval: 10 * time.Millisecond})
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
	close(fake.hold)
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
