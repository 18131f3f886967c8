package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"

	"github.com/tollgate-gw/tollgate/internal/usage"
	"github.com/tollgate-gw/tollgate/internal/usage/bolt"
	"github.com/tollgate-gw/tollgate/internal/usage/dynamo"
	"github.com/tollgate-gw/tollgate/internal/usage/memory"
)

// defaultStore is the embedded usage store: a file beside the working
// directory, durable across restarts.
const defaultStore = "bolt://./data/usage.db"

// storeKind names a store URL's backend for logs, without its location.
func storeKind(url string) string {
	kind, _, _ := strings.Cut(url, "://")
	return kind
}

// openStore opens the usage store a URL names. On Lambda an embedded store
// would be per instance, making every cap meaningless, so it is refused
// unless explicitly allowed.
func openStore(ctx context.Context, cfg serveConfig, awsCfg aws.Config) (usage.Store, error) {
	kind, where, ok := strings.Cut(cfg.store, "://")
	if !ok {
		return nil, fmt.Errorf("-store %q: want bolt://FILE, dynamodb://TABLE or memory://", cfg.store)
	}
	if cfg.lambda && kind != "dynamodb" && !cfg.allowLocalStore {
		return nil, fmt.Errorf("-store %s:// on AWS Lambda would keep a separate budget per instance, so caps would not hold: use dynamodb://TABLE (or set TOLLGATE_ALLOW_LOCAL_STORE=1 to accept that)", kind)
	}
	switch kind {
	case "bolt":
		if where == "" {
			return nil, errors.New("-store bolt://FILE: missing the file")
		}
		if err := os.MkdirAll(filepath.Dir(where), 0o755); err != nil {
			return nil, fmt.Errorf("usage store: %w", err)
		}
		s, err := bolt.Open(where)
		if errors.Is(err, bolt.ErrLocked) {
			return nil, lockedError(where)
		}
		if err != nil {
			return nil, fmt.Errorf("usage store %s: %w", where, err)
		}
		return s, nil
	case "memory":
		return memory.New(), nil
	case "dynamodb":
		if where == "" {
			return nil, errors.New("-store dynamodb://TABLE: missing the table name")
		}
		return dynamo.Open(dynamo.NewClient(awsCfg), where), nil
	default:
		return nil, fmt.Errorf("-store %q: unknown kind %q; want bolt, dynamodb or memory", cfg.store, kind)
	}
}

// checkStore makes sure a DynamoDB store's table exists, so that serve
// fails at start-up rather than answer every budgeted request with a 503.
// An unreachable DynamoDB is only logged: the gateway fails closed until it
// answers.
func checkStore(ctx context.Context, cfg serveConfig, awsCfg aws.Config, store usage.Store, log *slog.Logger) error {
	d, ok := store.(*dynamo.Store)
	if !ok {
		return nil
	}
	_, table, _ := strings.Cut(cfg.store, "://")
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	err := d.Check(ctx)
	switch {
	case errors.Is(err, dynamo.ErrNoTable):
		return fmt.Errorf("the DynamoDB usage table %q does not exist in region %s: create it with `tollgate store init -store dynamodb://%s` (same AWS account and region), or fix -store / TOLLGATE_STORE",
			table, awsCfg.Region, table)
	case err != nil:
		log.Warn("the DynamoDB usage table could not be checked; budgeted requests are refused until it can be reached",
			"table", table, "region", awsCfg.Region, "error", err.Error())
	}
	return nil
}

// storeInit implements `tollgate store init`: it creates the DynamoDB
// usage table named by -store (on-demand billing, TTL on), and does nothing
// for an embedded store, which creates itself.
func storeInit(ctx context.Context, inv *invocation) error {
	fs := inv.flags()
	url := fs.String("store", envOr(inv.getenv, "TOLLGATE_STORE", defaultStore), "usage store: dynamodb://TABLE, bolt://FILE or memory:// (env TOLLGATE_STORE)")
	if err := inv.noArgs(fs); err != nil {
		return err
	}
	stdout := inv.stdout
	kind, table, _ := strings.Cut(*url, "://")
	if kind != "dynamodb" {
		fmt.Fprintf(stdout, "%s: nothing to create; the store creates itself on first use\n", *url)
		return nil
	}
	awsCfg, err := config.LoadDefaultConfig(ctx)
	if err != nil {
		return fmt.Errorf("load AWS configuration: %w", err)
	}
	if err := dynamo.Open(dynamodb.NewFromConfig(awsCfg), table).CreateTable(ctx); err != nil {
		return fmt.Errorf("create table %s: %w", table, err)
	}
	fmt.Fprintf(stdout, "table %s is ready\n", table)
	return nil
}
