package metering

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/cloudwatch"
	"github.com/aws/aws-sdk-go-v2/service/cloudwatch/types"
	"github.com/prometheus/client_golang/prometheus"
)

// Defaults and bounds of CloudWatchOptions.
const (
	DefaultFlushInterval   = time.Minute
	DefaultBatchSize       = 500
	MaxBatchSize           = 1000 // PutMetricData's limit on metrics per call
	DefaultMaxPending      = 20000
	DefaultMaxAttempts     = 5
	DefaultBackoff         = 2 * time.Second
	DefaultRequestTimeout  = 15 * time.Second
	DefaultShutdownTimeout = 5 * time.Second
)

// CloudWatchOptions tune a CloudWatch. Zero values take the defaults.
type CloudWatchOptions struct {
	// FlushInterval is how often the aggregates are sent; DefaultFlushInterval.
	// It is also the longest wait between retries.
	FlushInterval time.Duration
	// BatchSize is the number of MetricDatum per PutMetricData call;
	// DefaultBatchSize, at most MaxBatchSize. A datum here is a statistic set
	// with at most three short dimensions, about 200 bytes, so 1000 of them
	// stay far below the call's 1 MB limit.
	BatchSize int
	// MaxPending bounds the data points held in memory, aggregated or awaiting
	// a retry; past it new data points are dropped (and the oldest ones
	// awaiting a retry). DefaultMaxPending.
	MaxPending int
	// MaxAttempts is how many times a batch is tried before it is dropped;
	// DefaultMaxAttempts.
	MaxAttempts int
	// Backoff is the wait after the first failed call, doubling after each
	// further failure up to FlushInterval; DefaultBackoff.
	Backoff time.Duration
	// RequestTimeout bounds one PutMetricData call, the SDK's own retries
	// included; DefaultRequestTimeout.
	RequestTimeout time.Duration
	// ShutdownTimeout bounds the final flush once Run's context is
	// cancelled; DefaultShutdownTimeout.
	ShutdownTimeout time.Duration
}

func (o CloudWatchOptions) withDefaults() CloudWatchOptions {
	def := func(v *time.Duration, d time.Duration) {
		if *v <= 0 {
			*v = d
		}
	}
	def(&o.FlushInterval, DefaultFlushInterval)
	def(&o.Backoff, DefaultBackoff)
	def(&o.RequestTimeout, DefaultRequestTimeout)
	def(&o.ShutdownTimeout, DefaultShutdownTimeout)
	if o.BatchSize <= 0 {
		o.BatchSize = DefaultBatchSize
	}
	o.BatchSize = min(o.BatchSize, MaxBatchSize)
	if o.MaxPending <= 0 {
		o.MaxPending = DefaultMaxPending
	}
	if o.MaxAttempts <= 0 {
		o.MaxAttempts = DefaultMaxAttempts
	}
	return o
}

// putMetricDataAPI is the one CloudWatch call used.
type putMetricDataAPI interface {
	PutMetricData(context.Context, *cloudwatch.PutMetricDataInput, ...func(*cloudwatch.Options)) (*cloudwatch.PutMetricDataOutput, error)
}

// CloudWatch sends the metrics of the EMF lines with PutMetricData, for hosts
// where no agent or Lambda extracts EMF from the logs. Record aggregates each
// event in memory, per minute and per dimension set ({KeyId, Model}, {Team},
// {Model}), into statistic sets (SampleCount, Sum, Minimum, Maximum); Run
// sends them every FlushInterval in batches, retries failed calls with
// backoff, and drops (and counts) what it cannot deliver within the bounds of
// CloudWatchOptions. Record never waits for it.
//
// Pass it in Options.CloudWatch of exactly one Meter, which registers its
// metrics (tollgate_cloudwatch_dropped_total,
// tollgate_cloudwatch_flushes_total{result}) and sets its namespace, then
// start Run once.
type CloudWatch struct {
	client    putMetricDataAPI
	opts      CloudWatchOptions
	namespace string

	dropped            prometheus.Counter
	flushes            *prometheus.CounterVec
	flushOK, flushFail prometheus.Counter

	mu        sync.Mutex
	agg       map[aggKey]*aggStats
	counts    map[countKey]float64 // the counts of countMetrics, per minute
	aggDatums int                  // data points in agg and counts
	queued    atomic.Int64         // data points drained and awaiting a call, owned by Run
}

// aggKey is one dimension set's values in one minute.
type aggKey struct {
	minute int64 // Unix seconds of the minute's start
	set    uint8 // index in emfDimensionSets
	a, b   string
}

// countKey is one count's dimension values in one minute.
type countKey struct {
	minute int64
	metric uint8 // index in countMetrics
	a, b   string
}

type stat struct{ n, sum, min, max float64 }

type aggStats [nMetrics]stat

// NewCloudWatch returns a CloudWatch that calls client, for instance
// cloudwatch.NewFromConfig(awsCfg). The client's own retryer still applies
// to each call; RequestTimeout bounds the whole call.
func NewCloudWatch(client *cloudwatch.Client, opts CloudWatchOptions) *CloudWatch {
	return newCloudWatch(client, opts)
}

func newCloudWatch(client putMetricDataAPI, opts CloudWatchOptions) *CloudWatch {
	c := &CloudWatch{
		client:    client,
		opts:      opts.withDefaults(),
		namespace: DefaultNamespace,
		agg:       make(map[aggKey]*aggStats),
		counts:    make(map[countKey]float64),
		dropped: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "tollgate_cloudwatch_dropped_total",
			Help: "CloudWatch data points (metric values per dimension set) never delivered: over the buffer bound, failed every attempt, or left at shutdown.",
		}),
		flushes: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "tollgate_cloudwatch_flushes_total",
			Help: "PutMetricData calls, by result (success, failure).",
		}, []string{"result"}),
	}
	c.flushOK = c.flushes.WithLabelValues("success")
	c.flushFail = c.flushes.WithLabelValues("failure")
	return c
}

// bind is called by New, before Run.
func (c *CloudWatch) bind(namespace string) { c.namespace = namespace }

// add aggregates ev under a short lock; key, team and model are collapsed.
func (c *CloudWatch) add(ev *Event, t time.Time, key, team, model string) {
	v, hasTTFT := eventValues(ev)
	n := nMetrics
	if !hasTTFT {
		n--
	}
	minute := t.Unix()
	minute -= ((minute % 60) + 60) % 60
	keys := [...]aggKey{
		{minute: minute, set: 0, a: key, b: model},
		{minute: minute, set: 1, a: team},
		{minute: minute, set: 2, a: model},
	}
	lost := 0
	c.mu.Lock()
	for _, k := range keys {
		s := c.agg[k]
		if s == nil {
			if c.aggDatums+int(c.queued.Load())+nMetrics > c.opts.MaxPending {
				lost += n
				continue
			}
			s = new(aggStats)
			c.agg[k] = s
		}
		for i := range n {
			st := &s[i]
			if st.n == 0 {
				*st = stat{n: 1, sum: v[i], min: v[i], max: v[i]}
				c.aggDatums++
				continue
			}
			st.n++
			st.sum += v[i]
			st.min = min(st.min, v[i])
			st.max = max(st.max, v[i])
		}
	}
	c.mu.Unlock()
	if lost > 0 {
		c.dropped.Add(float64(lost))
	}
}

// addCount adds one occurrence of countMetrics[i] with dimension values a
// and b, under the same lock and bound as add.
func (c *CloudWatch) addCount(i int, t time.Time, a, b string) {
	minute := t.Unix()
	minute -= ((minute % 60) + 60) % 60
	k := countKey{minute: minute, metric: uint8(i), a: a, b: b}
	c.mu.Lock()
	if _, ok := c.counts[k]; !ok {
		if c.aggDatums+int(c.queued.Load())+1 > c.opts.MaxPending {
			c.mu.Unlock()
			c.dropped.Inc()
			return
		}
		c.aggDatums++
	}
	c.counts[k]++
	c.mu.Unlock()
}

// drain takes the aggregates and turns them into data points, oldest minute
// first.
func (c *CloudWatch) drain() []types.MetricDatum {
	c.mu.Lock()
	agg, counts, n := c.agg, c.counts, c.aggDatums
	c.agg, c.counts, c.aggDatums = make(map[aggKey]*aggStats, len(agg)), make(map[countKey]float64, len(counts)), 0
	c.queued.Add(int64(n))
	c.mu.Unlock()

	keys := make([]aggKey, 0, len(agg))
	for k := range agg {
		keys = append(keys, k)
	}
	slices.SortFunc(keys, func(x, y aggKey) int {
		return cmp.Or(cmp.Compare(x.minute, y.minute), cmp.Compare(x.set, y.set),
			cmp.Compare(x.a, y.a), cmp.Compare(x.b, y.b))
	})
	out := make([]types.MetricDatum, 0, n)
	for _, k := range keys {
		ts := time.Unix(k.minute, 0).UTC()
		names := emfDimensionSets[k.set]
		dims := []types.Dimension{{Name: aws.String(names[0]), Value: aws.String(k.a)}}
		if len(names) > 1 {
			dims = append(dims, types.Dimension{Name: aws.String(names[1]), Value: aws.String(k.b)})
		}
		for i, st := range agg[k] {
			if st.n == 0 {
				continue
			}
			out = append(out, types.MetricDatum{
				MetricName: aws.String(emfMetrics[i].name),
				Dimensions: dims,
				Timestamp:  aws.Time(ts),
				Unit:       types.StandardUnit(emfMetrics[i].unit),
				StatisticValues: &types.StatisticSet{
					SampleCount: aws.Float64(st.n),
					Sum:         aws.Float64(st.sum),
					Minimum:     aws.Float64(st.min),
					Maximum:     aws.Float64(st.max),
				},
			})
		}
	}
	if len(counts) == 0 {
		return out
	}
	// Each occurrence of a count is a sample of 1, as in its EMF line.
	ckeys := make([]countKey, 0, len(counts))
	for k := range counts {
		ckeys = append(ckeys, k)
	}
	slices.SortFunc(ckeys, func(x, y countKey) int {
		return cmp.Or(cmp.Compare(x.minute, y.minute), cmp.Compare(x.metric, y.metric),
			cmp.Compare(x.a, y.a), cmp.Compare(x.b, y.b))
	})
	for _, k := range ckeys {
		cm := &countMetrics[k.metric]
		n := counts[k]
		out = append(out, types.MetricDatum{
			MetricName: aws.String(cm.name),
			Dimensions: []types.Dimension{
				{Name: aws.String(cm.dims[0]), Value: aws.String(k.a)},
				{Name: aws.String(cm.dims[1]), Value: aws.String(k.b)},
			},
			Timestamp: aws.Time(time.Unix(k.minute, 0).UTC()),
			Unit:      types.StandardUnitCount,
			StatisticValues: &types.StatisticSet{
				SampleCount: aws.Float64(n), Sum: aws.Float64(n), Minimum: aws.Float64(1), Maximum: aws.Float64(1),
			},
		})
	}
	// Oldest minute first, the counts' among the requests'.
	slices.SortStableFunc(out, func(x, y types.MetricDatum) int { return x.Timestamp.Compare(*y.Timestamp) })
	return out
}

// Run sends the aggregates every FlushInterval until ctx is cancelled, then
// flushes what it holds and returns. A call in flight when ctx is cancelled
// is not abandoned (CloudWatch may have accepted it, and sending it again
// would count twice); the whole shutdown, that call included, is bounded by
// ShutdownTimeout. Run returns nil when everything was delivered, or an error
// saying how many data points the final flush dropped. Call it once, after
// New.
func (c *CloudWatch) Run(ctx context.Context) error {
	// calls outlives ctx by at most ShutdownTimeout.
	calls, cancel := context.WithCancel(context.WithoutCancel(ctx))
	defer cancel()
	defer context.AfterFunc(ctx, func() { time.AfterFunc(c.opts.ShutdownTimeout, cancel) })()

	tick := time.NewTicker(c.opts.FlushInterval)
	defer tick.Stop()
	retry := time.NewTimer(time.Hour)
	retry.Stop()
	defer retry.Stop()
	var (
		queue    []types.MetricDatum
		attempts int
		waiting  bool // a retry is scheduled
	)
	for {
		select {
		case <-ctx.Done():
			return c.shutdown(calls, c.enqueue(queue), attempts)
		case <-tick.C:
			queue = c.enqueue(queue)
			if waiting {
				continue
			}
		case <-retry.C:
			waiting = false
		}
		var err error
		queue, attempts, err = c.send(calls, queue, attempts)
		if err != nil && ctx.Err() == nil {
			retry.Reset(c.backoff(attempts))
			waiting = true
		}
	}
}

// enqueue appends the drained aggregates to queue and enforces MaxPending
// by dropping the oldest data points.
func (c *CloudWatch) enqueue(queue []types.MetricDatum) []types.MetricDatum {
	queue = append(queue, c.drain()...)
	if over := len(queue) - c.opts.MaxPending; over > 0 {
		c.dropped.Add(float64(over))
		queue = slices.Delete(queue, 0, over)
	}
	c.queued.Store(int64(len(queue)))
	return queue
}

// send calls PutMetricData with batches from the head of queue until it is
// empty or a call fails. A batch that failed MaxAttempts times is dropped.
// It returns the rest of the queue, the failed attempts of its head batch,
// and the last call's error.
func (c *CloudWatch) send(ctx context.Context, queue []types.MetricDatum, attempts int) ([]types.MetricDatum, int, error) {
	for len(queue) > 0 {
		batch := queue[:min(len(queue), c.opts.BatchSize)]
		err := c.put(ctx, batch)
		if err != nil && ctx.Err() != nil {
			return queue, attempts, err // out of time: not the batch's fault
		}
		if err != nil {
			c.flushFail.Inc()
			attempts++
			if attempts < c.opts.MaxAttempts {
				return queue, attempts, err
			}
			c.dropped.Add(float64(len(batch)))
		} else {
			c.flushOK.Inc()
		}
		attempts = 0
		queue = queue[len(batch):]
		c.queued.Store(int64(len(queue)))
		if err != nil {
			return queue, 0, err
		}
	}
	return nil, 0, nil
}

func (c *CloudWatch) put(ctx context.Context, batch []types.MetricDatum) error {
	ctx, cancel := context.WithTimeout(ctx, c.opts.RequestTimeout)
	defer cancel()
	_, err := c.client.PutMetricData(ctx, &cloudwatch.PutMetricDataInput{
		Namespace:  aws.String(c.namespace),
		MetricData: batch,
	})
	return err
}

// backoff is the wait after the attempts-th consecutive failure.
func (c *CloudWatch) backoff(attempts int) time.Duration {
	d := c.opts.Backoff
	for i := 1; i < attempts && d < c.opts.FlushInterval; i++ {
		d *= 2
	}
	return min(d, c.opts.FlushInterval)
}

// shutdown delivers queue until ctx (Run's calls context) ends, retrying
// with backoff.
func (c *CloudWatch) shutdown(ctx context.Context, queue []types.MetricDatum, attempts int) error {
	var err error
	for {
		queue, attempts, err = c.send(ctx, queue, attempts)
		if len(queue) == 0 {
			return nil
		}
		t := time.NewTimer(c.backoff(attempts))
		select {
		case <-ctx.Done():
			t.Stop()
			c.dropped.Add(float64(len(queue)))
			c.queued.Store(0)
			return fmt.Errorf("metering: cloudwatch: shutdown flush dropped %d data points: %w",
				len(queue), errors.Join(err, ctx.Err()))
		case <-t.C:
		}
	}
}
