package alert_test

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/service/eventbridge"
	"github.com/aws/aws-sdk-go-v2/service/sns"
	"github.com/google/go-cmp/cmp"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/tollgate-gw/tollgate/internal/alert"
	"github.com/tollgate-gw/tollgate/internal/alert/awsfake"
	"github.com/tollgate-gw/tollgate/internal/budget"
	"github.com/tollgate-gw/tollgate/internal/metering"
	"github.com/tollgate-gw/tollgate/internal/policy"
	"github.com/tollgate-gw/tollgate/internal/usage"
)

var at = time.Date(2026, 11, 15, 12, 0, 0, 0, time.UTC)

func alertAt(th float64) budget.Alert {
	return budget.Alert{Kind: usage.KindKey, ID: "alice", Period: "2026-11", Threshold: th,
		Spent: int64(th * 10_000_000), Limit: 10_000_000, Time: at}
}

// hook is a webhook receiver that checks signatures and fails the first
// failFirst deliveries with a 503.
type hook struct {
	secret    string
	failFirst int32
	calls     atomic.Int32
	mu        sync.Mutex
	got       []alert.Payload
	bad       []string
}

func (h *hook) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(r.Body)
	if h.calls.Add(1) <= h.failFirst {
		w.WriteHeader(http.StatusServiceUnavailable)
		return
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	if sig := r.Header.Get(alert.SignatureHeader); h.secret != "" && sig != alert.Sign([]byte(h.secret), body) {
		h.bad = append(h.bad, sig)
	}
	if h.secret == "" && r.Header.Get(alert.SignatureHeader) != "" {
		h.bad = append(h.bad, "signed without a secret")
	}
	var p alert.Payload
	if err := json.Unmarshal(body, &p); err != nil {
		h.bad = append(h.bad, err.Error())
	}
	h.got = append(h.got, p)
}

func TestWebhookSignedAndRetried(t *testing.T) {
	tests := []struct {
		name, secret string
		failFirst    int32
	}{
		{"signed", "s3cret", 0},
		{"unsigned without a secret", "", 0},
		{"retried after 503s", "s3cret", 2},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := &hook{secret: tt.secret, failFirst: tt.failFirst}
			srv := httptest.NewServer(h)
			defer srv.Close()
			m, reg := newMeter(t)
			n := alert.New(alert.Options{
				Destinations: func() policy.AlertDestinations {
					return policy.AlertDestinations{Webhook: &policy.WebhookAlert{URL: srv.URL}}
				},
				Secret: []byte(tt.secret), Meter: m, Backoff: time.Millisecond,
			})
			for _, th := range []float64{0.5, 0.8, 1} {
				n.Send(alertAt(th))
			}
			if err := n.Close(context.Background()); err != nil {
				t.Fatalf("Close: %v", err)
			}
			want := []alert.Payload{
				{Scope: "key", ID: "alice", Period: "2026-11", Threshold: 0.5, Spent: 5, Limit: 10, Time: at},
				{Scope: "key", ID: "alice", Period: "2026-11", Threshold: 0.8, Spent: 8, Limit: 10, Time: at},
				{Scope: "key", ID: "alice", Period: "2026-11", Threshold: 1, Spent: 10, Limit: 10, Time: at},
			}
			if diff := cmp.Diff(want, h.got); diff != "" {
				t.Errorf("deliveries (-want +got):\n%s", diff)
			}
			if len(h.bad) > 0 {
				t.Errorf("bad signatures or bodies: %q", h.bad)
			}
			const metric = `
# HELP tollgate_alerts_sent_total Budget alerts delivered, by destination (log, webhook, sns, eventbridge) and outcome (ok, failed, dropped).
# TYPE tollgate_alerts_sent_total counter
tollgate_alerts_sent_total{destination="log",outcome="ok"} 3
tollgate_alerts_sent_total{destination="webhook",outcome="ok"} 3
`
			if err := testutil.GatherAndCompare(reg, strings.NewReader(metric), "tollgate_alerts_sent_total"); err != nil {
				t.Error(err)
			}
		})
	}
}

// TestWebhookGivesUp: a webhook that always fails is tried Attempts times,
// counted failed, and a 4xx is not retried.
func TestWebhookGivesUp(t *testing.T) {
	for _, tt := range []struct {
		name   string
		status int
		calls  int32
	}{{"503 retried", 503, 3}, {"404 not retried", 404, 1}} {
		t.Run(tt.name, func(t *testing.T) {
			var calls atomic.Int32
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				calls.Add(1)
				w.WriteHeader(tt.status)
			}))
			defer srv.Close()
			m, reg := newMeter(t)
			n := alert.New(alert.Options{
				Destinations: func() policy.AlertDestinations {
					return policy.AlertDestinations{Webhook: &policy.WebhookAlert{URL: srv.URL}}
				},
				Meter: m, Attempts: 3, Backoff: time.Millisecond,
			})
			n.Send(alertAt(0.5))
			if err := n.Close(context.Background()); err != nil {
				t.Fatal(err)
			}
			if got := calls.Load(); got != tt.calls {
				t.Errorf("webhook called %d times, want %d", got, tt.calls)
			}
			if got := testutil.ToFloat64(counter(t, reg, "webhook", "failed")); got != 1 {
				t.Errorf("failed deliveries = %v, want 1", got)
			}
		})
	}
}

// newMeter returns a meter, which counts the deliveries, on a registry of
// its own.
func newMeter(t *testing.T) (*metering.Meter, *prometheus.Registry) {
	t.Helper()
	reg := prometheus.NewRegistry()
	m, err := metering.New(reg, metering.Options{})
	if err != nil {
		t.Fatal(err)
	}
	return m, reg
}

func counter(t *testing.T, reg *prometheus.Registry, dest, outcome string) prometheus.Collector {
	t.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	c := prometheus.NewCounter(prometheus.CounterOpts{Name: "x"})
	for _, mf := range mfs {
		for _, m := range mf.GetMetric() {
			labels := map[string]string{}
			for _, l := range m.GetLabel() {
				labels[l.GetName()] = l.GetValue()
			}
			if mf.GetName() == "tollgate_alerts_sent_total" && labels["destination"] == dest && labels["outcome"] == outcome {
				c.Add(m.GetCounter().GetValue())
			}
		}
	}
	return c
}

// TestSNSAndEventBridge: the SDK's clients, built from the standard
// configuration chain with AWS_ENDPOINT_URL_SNS and
// AWS_ENDPOINT_URL_EVENTBRIDGE, deliver to fakes speaking each service's
// wire protocol.
func TestSNSAndEventBridge(t *testing.T) {
	fsns, feb := awsfake.NewSNS(), awsfake.NewEventBridge()
	defer fsns.Close()
	defer feb.Close()
	t.Setenv("AWS_ENDPOINT_URL_SNS", fsns.URL)
	t.Setenv("AWS_ENDPOINT_URL_EVENTBRIDGE", feb.URL)
	t.Setenv("AWS_REGION", "eu-west-1")
	t.Setenv("AWS_ACCESS_KEY_ID", "AKIDTEST")
	t.Setenv("AWS_SECRET_ACCESS_KEY", "secret")
	t.Setenv("AWS_CONFIG_FILE", "/dev/null")
	t.Setenv("AWS_SHARED_CREDENTIALS_FILE", "/dev/null")
	cfg, err := config.LoadDefaultConfig(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	const topic = "arn:aws:sns:eu-west-1:123456789012:budget-alerts"
	m, reg := newMeter(t)
	n := alert.New(alert.Options{
		Destinations: func() policy.AlertDestinations {
			return policy.AlertDestinations{SNS: &policy.SNSAlert{TopicARN: topic}, EventBridge: &policy.EventBridgeAlert{EventBus: "ops"}}
		},
		SNS: sns.NewFromConfig(cfg), EventBridge: eventbridge.NewFromConfig(cfg), Meter: m, Backoff: time.Millisecond,
	})
	n.Send(alertAt(0.8))
	n.Send(alertAt(1))
	if err := n.Close(context.Background()); err != nil {
		t.Fatal(err)
	}
	p8, _ := json.Marshal(alert.PayloadOf(alertAt(0.8)))
	p1, _ := json.Marshal(alert.PayloadOf(alertAt(1)))
	wantSNS := []awsfake.Published{
		{TopicARN: topic, Subject: "Tollgate: key alice budget at 80%", Message: string(p8)},
		{TopicARN: topic, Subject: "Tollgate: key alice budget at 100%", Message: string(p1)},
	}
	if diff := cmp.Diff(wantSNS, fsns.Published()); diff != "" {
		t.Errorf("SNS (-want +got):\n%s", diff)
	}
	wantEB := []awsfake.Event{
		{Source: "tollgate", DetailType: alert.DetailType, Detail: string(p8), EventBusName: "ops"},
		{Source: "tollgate", DetailType: alert.DetailType, Detail: string(p1), EventBusName: "ops"},
	}
	if diff := cmp.Diff(wantEB, feb.Events()); diff != "" {
		t.Errorf("EventBridge (-want +got):\n%s", diff)
	}
	for _, d := range []string{"sns", "eventbridge"} {
		if got := testutil.ToFloat64(counter(t, reg, d, "ok")); got != 2 {
			t.Errorf("%s deliveries = %v, want 2", d, got)
		}
	}
}
