package main

import (
	"log/slog"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/eventbridge"
	"github.com/aws/aws-sdk-go-v2/service/sns"

	"github.com/tollgate-gw/tollgate/internal/alert"
	"github.com/tollgate-gw/tollgate/internal/policy"
)

// newNotifier builds the budget alerts' notifier: destinations from the
// policy in force, the webhook secret from TOLLGATE_ALERT_WEBHOOK_SECRET,
// SNS and EventBridge clients on the standard AWS configuration (so
// AWS_ENDPOINT_URL_SNS and AWS_ENDPOINT_URL_EVENTBRIDGE apply).
func newNotifier(awsCfg aws.Config, getenv func(string) string, meter alert.Meter, log *slog.Logger, policies *policy.Holder) *alert.Notifier {
	var secret []byte
	if s := getenv("TOLLGATE_ALERT_WEBHOOK_SECRET"); s != "" {
		secret = []byte(s)
	}
	return alert.New(alert.Options{
		Destinations: func() policy.AlertDestinations { return policies.Load().AlertDestinations() },
		Secret:       secret,
		SNS:          sns.NewFromConfig(awsCfg),
		EventBridge:  eventbridge.NewFromConfig(awsCfg),
		Log:          log,
		Meter:        meter,
	})
}
