// Package alert delivers budget alerts to the destinations of the policy's
// `alerts:` section: a signed webhook, Amazon SNS, Amazon EventBridge, and
// always a log line (docs/budgets.md, "Alerts"). Deliveries never block a
// request: they wait in a bounded queue for one goroutine, which retries
// each with backoff and is drained by Close at shutdown.
package alert

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/eventbridge"
	ebtypes "github.com/aws/aws-sdk-go-v2/service/eventbridge/types"
	"github.com/aws/aws-sdk-go-v2/service/sns"

	"github.com/tollgate-gw/tollgate/internal/budget"
	"github.com/tollgate-gw/tollgate/internal/policy"
)

// SignatureHeader carries the webhook body's signature:
// "sha256=" + hex(HMAC-SHA256(secret, body)).
const SignatureHeader = "X-Tollgate-Signature"

// DetailType is the EventBridge detail-type of an alert; the source is the
// policy's (DefaultSource when unset).
const (
	DetailType    = "Tollgate Budget Alert"
	DefaultSource = "tollgate"
)

// Payload is the JSON body of an alert, the same for every destination.
// Amounts are USD.
type Payload struct {
	Scope     string    `json:"scope"`     // key, team or global
	ID        string    `json:"id"`        // the key's or team's policy id; "" for global
	Period    string    `json:"period"`    // the period's id: "2026-12", "2026-W49", "2026-12-02"
	Budget    string    `json:"budget"`    // the period's kind: monthly, weekly or daily
	Threshold float64   `json:"threshold"` // a fraction of the limit; 1 is the cap
	Spent     float64   `json:"spent"`
	Limit     float64   `json:"limit"`
	Time      time.Time `json:"time"`
	// Refused: the threshold is 1 and a request was refused by this budget
	// before its settled spend reached the limit.
	Refused bool `json:"refused,omitempty"`
}

// PayloadOf returns a's payload.
func PayloadOf(a budget.Alert) Payload {
	return Payload{Scope: string(a.Kind), ID: a.ID, Period: a.Period, Budget: string(a.PeriodKind), Threshold: a.Threshold,
		Spent: float64(a.Spent) / 1e6, Limit: float64(a.Limit) / 1e6, Time: a.Time.UTC(), Refused: a.Refused}
}

// Sign returns the signature header's value of body under secret.
func Sign(secret, body []byte) string {
	m := hmac.New(sha256.New, secret)
	m.Write(body)
	return "sha256=" + hex.EncodeToString(m.Sum(nil))
}

// SNSPublisher is the part of the SNS client the notifier uses.
type SNSPublisher interface {
	Publish(ctx context.Context, in *sns.PublishInput, opts ...func(*sns.Options)) (*sns.PublishOutput, error)
}

// EventPutter is the part of the EventBridge client the notifier uses.
type EventPutter interface {
	PutEvents(ctx context.Context, in *eventbridge.PutEventsInput, opts ...func(*eventbridge.Options)) (*eventbridge.PutEventsOutput, error)
}

// Options configure a Notifier.
type Options struct {
	// Destinations returns the policy's alerts section in force; read at
	// each delivery, so an edit applies without a restart.
	Destinations func() policy.AlertDestinations
	Secret       []byte // TOLLGATE_ALERT_WEBHOOK_SECRET; nil sends webhooks unsigned
	HTTP         *http.Client
	SNS          SNSPublisher // nil: SNS alerts fail (and are counted so)
	EventBridge  EventPutter
	Log          *slog.Logger
	Meter        Meter         // counts every delivery; nil counts none
	Attempts     int           // per destination; DefaultAttempts when 0
	Backoff      time.Duration // before the second attempt, doubling; DefaultBackoff when 0
	Queue        int           // alerts waiting; DefaultQueue when 0
}

// Meter counts deliveries ([metering.Meter] implements it, as
// tollgate_alerts_sent_total and the AlertsSent CloudWatch metric).
// destination is "log", "webhook", "sns", "eventbridge", or "queue" for an
// alert dropped before any delivery; outcome is "ok", "failed" or
// "dropped". It is called from the request path (Send) and from the
// notifier's goroutine: it must be safe for concurrent use and not block.
type Meter interface {
	AlertSent(destination, outcome string)
}

// noMeter counts nothing.
type noMeter struct{}

func (noMeter) AlertSent(string, string) {}

// Defaults of Options.
const (
	DefaultAttempts = 5
	DefaultBackoff  = time.Second
	DefaultQueue    = 256
	attemptTimeout  = 10 * time.Second
)

// Notifier delivers alerts in the background. Its methods are safe for
// concurrent use.
type Notifier struct {
	opts  Options
	queue chan budget.Alert
	done  chan struct{}
	stop  chan struct{} // closed when Close gives up: stop retrying
	meter Meter

	mu     sync.Mutex
	closed bool
}

// New returns a Notifier and starts its goroutine; Close stops it.
func New(opts Options) *Notifier {
	if opts.Attempts <= 0 {
		opts.Attempts = DefaultAttempts
	}
	if opts.Backoff <= 0 {
		opts.Backoff = DefaultBackoff
	}
	if opts.Queue <= 0 {
		opts.Queue = DefaultQueue
	}
	if opts.HTTP == nil {
		opts.HTTP = &http.Client{Timeout: attemptTimeout}
	}
	if opts.Log == nil {
		opts.Log = slog.New(slog.DiscardHandler)
	}
	n := &Notifier{opts: opts, queue: make(chan budget.Alert, opts.Queue), done: make(chan struct{}), stop: make(chan struct{}),
		meter: opts.Meter}
	if n.meter == nil {
		n.meter = noMeter{}
	}
	go n.run()
	return n
}

// Send logs a and queues it for the other destinations, without blocking:
// when the queue is full the alert is counted as dropped. It is
// budget.Options.OnAlert.
func (n *Notifier) Send(a budget.Alert) {
	p := PayloadOf(a)
	n.opts.Log.Warn("budget alert", "scope", p.Scope, "id", p.ID, "period", p.Period, "threshold", p.Threshold,
		"spent_usd", p.Spent, "limit_usd", p.Limit, "refused", p.Refused)
	n.meter.AlertSent("log", "ok")
	n.mu.Lock()
	defer n.mu.Unlock()
	if n.closed {
		n.meter.AlertSent("queue", "dropped")
		return
	}
	select {
	case n.queue <- a:
	default:
		n.meter.AlertSent("queue", "dropped")
	}
}

// Close stops taking alerts and waits, until ctx ends, for the queued ones
// to be delivered; then it stops retrying and returns ctx's error.
func (n *Notifier) Close(ctx context.Context) error {
	n.mu.Lock()
	if !n.closed {
		n.closed = true
		close(n.queue)
	}
	n.mu.Unlock()
	select {
	case <-n.done:
		return nil
	case <-ctx.Done():
		close(n.stop)
		<-n.done
		return ctx.Err()
	}
}

func (n *Notifier) run() {
	defer close(n.done)
	for a := range n.queue {
		n.deliver(a)
	}
}

// deliver sends a to each destination of the policy in force.
func (n *Notifier) deliver(a budget.Alert) {
	body, err := json.Marshal(PayloadOf(a))
	if err != nil {
		return
	}
	d := n.opts.Destinations()
	if d.Webhook != nil {
		n.try("webhook", func(ctx context.Context) error { return n.webhook(ctx, d.Webhook.URL, body) })
	}
	if d.SNS != nil {
		n.try("sns", func(ctx context.Context) error { return n.sns(ctx, d.SNS.TopicARN, a, body) })
	}
	if d.EventBridge != nil {
		n.try("eventbridge", func(ctx context.Context) error { return n.eventBridge(ctx, d.EventBridge, body) })
	}
}

// errPermanent marks a failure that retrying cannot fix.
var errPermanent = errors.New("permanent")

// try calls send until it succeeds, fails permanently, runs out of
// attempts or Close gives up, and counts the outcome.
func (n *Notifier) try(dest string, send func(context.Context) error) {
	pause := n.opts.Backoff
	var err error
	for attempt := 1; ; attempt++ {
		if err = n.attempt(send); err == nil {
			n.meter.AlertSent(dest, "ok")
			return
		}
		if errors.Is(err, errPermanent) || attempt >= n.opts.Attempts || !n.wait(pause) {
			break
		}
		pause *= 2
	}
	n.meter.AlertSent(dest, "failed")
	n.opts.Log.Error("budget alert not delivered", "destination", dest, "error", err.Error())
}

// attempt calls send on a context bounded by attemptTimeout and ended by
// Close giving up.
func (n *Notifier) attempt(send func(context.Context) error) error {
	ctx, cancel := context.WithTimeout(context.Background(), attemptTimeout)
	defer cancel()
	go func() {
		select {
		case <-n.stop:
			cancel()
		case <-ctx.Done():
		}
	}()
	return send(ctx)
}

// wait pauses d; false when Close gave up meanwhile.
func (n *Notifier) wait(d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-n.stop:
		return false
	case <-t.C:
		return true
	}
}

func (n *Notifier) webhook(ctx context.Context, url string, body []byte) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, url, bytes.NewReader(body))
	if err != nil {
		return fmt.Errorf("%w: %v", errPermanent, err)
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("User-Agent", "tollgate-alerts")
	if len(n.opts.Secret) > 0 {
		req.Header.Set(SignatureHeader, Sign(n.opts.Secret, body))
	}
	resp, err := n.opts.HTTP.Do(req)
	if err != nil {
		return err
	}
	resp.Body.Close()
	switch {
	case resp.StatusCode < 300:
		return nil
	case resp.StatusCode == http.StatusTooManyRequests || resp.StatusCode == http.StatusRequestTimeout || resp.StatusCode >= 500:
		return fmt.Errorf("webhook answered %s", resp.Status)
	default:
		return fmt.Errorf("%w: webhook answered %s", errPermanent, resp.Status)
	}
}

func (n *Notifier) sns(ctx context.Context, topic string, a budget.Alert, body []byte) error {
	if n.opts.SNS == nil {
		return fmt.Errorf("%w: no SNS client", errPermanent)
	}
	subject := fmt.Sprintf("Tollgate: %s budget at %g%%", strings.TrimSpace(scopeName(a)+" "+string(a.PeriodKind)), a.Threshold*100)
	_, err := n.opts.SNS.Publish(ctx, &sns.PublishInput{TopicArn: aws.String(topic), Message: aws.String(string(body)), Subject: aws.String(subject)})
	return err
}

func (n *Notifier) eventBridge(ctx context.Context, d *policy.EventBridgeAlert, body []byte) error {
	if n.opts.EventBridge == nil {
		return fmt.Errorf("%w: no EventBridge client", errPermanent)
	}
	source := d.Source
	if source == "" {
		source = DefaultSource
	}
	e := ebtypes.PutEventsRequestEntry{Source: aws.String(source), DetailType: aws.String(DetailType), Detail: aws.String(string(body))}
	if d.EventBus != "" {
		e.EventBusName = aws.String(d.EventBus)
	}
	out, err := n.opts.EventBridge.PutEvents(ctx, &eventbridge.PutEventsInput{Entries: []ebtypes.PutEventsRequestEntry{e}})
	if err != nil {
		return err
	}
	if out.FailedEntryCount > 0 && len(out.Entries) > 0 {
		return fmt.Errorf("EventBridge refused the event: %s: %s", aws.ToString(out.Entries[0].ErrorCode), aws.ToString(out.Entries[0].ErrorMessage))
	}
	return nil
}

func scopeName(a budget.Alert) string {
	if a.ID == "" {
		return string(a.Kind)
	}
	return string(a.Kind) + " " + a.ID
}
