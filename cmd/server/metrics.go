package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/cloudwatch"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/tollgate-gw/tollgate/internal/budget"
	"github.com/tollgate-gw/tollgate/internal/metering"
	"github.com/tollgate-gw/tollgate/internal/policy"
	"github.com/tollgate-gw/tollgate/internal/upstream"
)

// budgetRefresh is how often the budget gauges are brought up to date from
// the store.
const budgetRefresh = 15 * time.Second

// startMetering builds the meter on reg and starts its background work: the
// CloudWatch flusher (when on) and the budget gauges.
func startMetering(ctx context.Context, bg *group, cfg serveConfig, reg *prometheus.Registry, awsCfg aws.Config,
	stdout io.Writer, log *slog.Logger, policies *policy.Holder, catalog *upstream.Catalog) (*metering.Meter, error) {
	opts := metering.Options{
		KnownKey: func(id string) bool { _, ok := policies.Load().KeyByID(id); return ok },
		KnownModel: func(id string) bool {
			return catalog.Known(id) || policies.Load().Knows(id)
		},
		Namespace: cfg.namespace,
	}
	if cfg.emf {
		opts.EMF = stdout
	}
	if cfg.cloudWatch {
		cw := metering.NewCloudWatch(cloudwatch.NewFromConfig(awsCfg), metering.CloudWatchOptions{})
		opts.CloudWatch = cw
		bg.run(func() {
			if err := cw.Run(ctx); err != nil {
				log.Warn("CloudWatch metrics dropped at shutdown", "error", err.Error())
			}
		})
	}
	meter, err := metering.New(reg, opts)
	if err != nil {
		return nil, fmt.Errorf("metering: %w", err)
	}
	return meter, nil
}

// startBudgetGauges keeps the meter's budget gauges up to date from the
// guard, in bg, until ctx ends.
func startBudgetGauges(ctx context.Context, bg *group, log *slog.Logger, policies *policy.Holder, guard *budget.Guard, meter *metering.Meter) {
	bg.run(func() {
		guard.Monitor(ctx, policies.Load, budgetRefresh,
			func(states []budget.ScopeState, err error) {
				if err != nil {
					if ctx.Err() == nil {
						log.Warn("reading budgets for the gauges failed", "error", err.Error())
					}
					return
				}
				bs := make([]metering.Budget, len(states))
				for i, s := range states {
					bs[i] = metering.Budget{Scope: string(s.Kind), ID: s.ID, LimitMicros: s.Limit, SpentMicros: s.Spent, ReservedMicros: s.Reserved}
				}
				meter.SetBudgets(bs)
			},
			func(budget.ScopeState) {}) // alerts go through the guard's OnAlert (alerts.go)
	})
}

// startAdmin serves /metrics and /usage (usage_cmd.go) on the admin
// listener, apart from the public one, and returns its address and how to
// stop it.
func startAdmin(addr string, reg *prometheus.Registry, usage http.Handler, log *slog.Logger) (bound string, stop func(), err error) {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return "", nil, fmt.Errorf("admin listener: %w", err)
	}
	mux := http.NewServeMux()
	mux.Handle("GET /metrics", promhttp.HandlerFor(reg, promhttp.HandlerOpts{ErrorLog: slog.NewLogLogger(log.Handler(), slog.LevelWarn)}))
	mux.Handle("GET /usage", usage)
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second}
	go func() {
		if err := srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			log.Error("admin listener stopped", "error", err.Error())
		}
	}()
	log.Info("admin listening", "addr", ln.Addr().String())
	return ln.Addr().String(), func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = srv.Shutdown(ctx)
	}, nil
}
