package policy

import (
	"fmt"
	"math"
	"net/url"
	"slices"
	"strings"

	"gopkg.in/yaml.v3"
)

// Fractions are alert thresholds, fractions of a cap: `alert_at: 0.8` or
// `alert_at: [0.5, 0.8]`. A nil Fractions means the field was left out.
type Fractions []float64

// UnmarshalYAML implements [yaml.Unmarshaler]: a number or a list of
// numbers.
func (f *Fractions) UnmarshalYAML(n *yaml.Node) error {
	if n.Kind == yaml.ScalarNode {
		var v float64
		if err := n.Decode(&v); err != nil {
			return err
		}
		*f = Fractions{v}
		return nil
	}
	var vs []float64
	if err := n.Decode(&vs); err != nil {
		return err
	}
	if vs == nil {
		vs = []float64{}
	}
	*f = vs
	return nil
}

// Lowest returns the lowest threshold, or 0 when there is none.
func (f Fractions) Lowest() float64 {
	if len(f) == 0 {
		return 0
	}
	return slices.Min(f)
}

// Thresholds returns f sorted, without duplicates, with 1 (the cap itself)
// added: the thresholds at which a capped scope with alert_at alerts. It is
// nil when f is empty (no alert_at: no alerts).
func (f Fractions) Thresholds() []float64 {
	if len(f) == 0 {
		return nil
	}
	out := append(slices.Clone(f), 1)
	slices.Sort(out)
	return slices.Compact(out)
}

// AlertDestinations is the top-level `alerts:` section: where budget
// alerts go besides the log. Each field is nil when not configured.
type AlertDestinations struct {
	Webhook     *WebhookAlert     `yaml:"webhook,omitempty"`
	SNS         *SNSAlert         `yaml:"sns,omitempty"`
	EventBridge *EventBridgeAlert `yaml:"eventbridge,omitempty"`
}

// WebhookAlert posts each alert as JSON to URL, signed with the secret in
// TOLLGATE_ALERT_WEBHOOK_SECRET (never in the policy).
type WebhookAlert struct {
	URL string `yaml:"url"`
}

// SNSAlert publishes each alert to an Amazon SNS topic.
type SNSAlert struct {
	TopicARN string `yaml:"topic_arn"`
}

// EventBridgeAlert puts each alert on an Amazon EventBridge bus.
type EventBridgeAlert struct {
	// EventBus is the bus name or ARN; "" is the account's default bus.
	EventBus string `yaml:"event_bus,omitempty"`
	// Source is the events' source; "tollgate" when unset.
	Source string `yaml:"source,omitempty"`
}

// alertsEntry is the `alerts:` section where it was defined.
type alertsEntry struct {
	dest AlertDestinations
	src  source
}

// AlertDestinations returns the `alerts:` section; the zero value when the
// policy has none.
func (p *Policy) AlertDestinations() AlertDestinations { return p.alerts }

// Thresholds returns the alert thresholds of each cap k is under, as
// [Fractions.Thresholds] gives them (1 included); nil where the cap has no
// alert_at.
func (p *Policy) Thresholds(k *Key) (key, team, global []float64) {
	key = k.AlertAt.Thresholds()
	if t, ok := p.teamByID[k.Team]; ok {
		team = t.AlertAt.Thresholds()
	}
	return key, team, p.globalAlerts.Thresholds()
}

// decodeAlerts decodes the `alerts:` section.
func (d *draft) decodeAlerts(top source, vn *yaml.Node) {
	if d.alerts != nil {
		d.probs = append(d.probs, top.problem("", "the alerts section is already defined %s: define it once", d.alerts.src.where()))
		return
	}
	e := &alertsEntry{src: top}
	if vn.Kind != yaml.MappingNode {
		d.probs = append(d.probs, top.problem("", "must be a mapping of destinations: webhook, sns, eventbridge"))
		return
	}
	for i := 0; i+1 < len(vn.Content); i += 2 {
		kn, v := vn.Content[i], resolve(vn.Content[i+1])
		src := source{file: top.file, path: top.path + "." + kn.Value, line: kn.Line}
		switch kn.Value {
		case "webhook":
			e.dest.Webhook = &WebhookAlert{}
			if d.decodeFields(&src, v, e.dest.Webhook) {
				d.probs = append(d.probs, checkWebhook(src, e.dest.Webhook.URL)...)
			}
		case "sns":
			e.dest.SNS = &SNSAlert{}
			if d.decodeFields(&src, v, e.dest.SNS) && !strings.HasPrefix(e.dest.SNS.TopicARN, "arn:") {
				d.probs = append(d.probs, src.problem("topic_arn", "%q must be an SNS topic ARN (arn:aws:sns:region:account:name)", e.dest.SNS.TopicARN))
			}
		case "eventbridge":
			e.dest.EventBridge = &EventBridgeAlert{}
			d.decodeFields(&src, v, e.dest.EventBridge)
		default:
			d.probs = append(d.probs, src.problem("", "unknown alert destination: the destinations are webhook, sns, eventbridge"))
		}
	}
	d.alerts = e
}

func checkWebhook(src source, raw string) []Problem {
	u, err := url.Parse(raw)
	if raw == "" || err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" {
		return []Problem{src.problem("url", "%q must be an http or https URL, e.g. https://hooks.example.com/tollgate", raw)}
	}
	return nil
}

// checkAlertAt checks an alert_at: fractions more than 0 and at most 1, on
// an entry that has a budget (daily, weekly or monthly).
func checkAlertAt(src source, budgeted bool, alert Fractions) []Problem {
	if alert == nil {
		return nil
	}
	var probs []Problem
	if len(alert) == 0 {
		probs = append(probs, src.problem("alert_at", "an empty list: give a fraction of the budget (e.g. 0.8) or a list of them (e.g. [0.5, 0.8])"))
	}
	for i, a := range alert {
		field := "alert_at"
		if len(alert) > 1 || src.lines[fmt.Sprintf("alert_at[%d]", i)] != 0 {
			field = fmt.Sprintf("alert_at[%d]", i)
		}
		if math.IsNaN(a) || a <= 0 || a > 1 {
			probs = append(probs, src.problem(field, "%v must be a fraction of the budget, more than 0 and at most 1 (e.g. 0.8)", a))
		}
	}
	if len(probs) == 0 && !budgeted {
		probs = append(probs, src.problem("alert_at", "an alert needs a budget (daily_budget_usd, weekly_budget_usd or monthly_budget_usd) in the same entry"))
	}
	return probs
}
