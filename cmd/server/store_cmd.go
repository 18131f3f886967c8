package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"

	"github.com/tollgate-gw/tollgate/internal/budget"
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
		return dynamo.Open(dynamodb.NewFromConfig(awsCfg), where), nil
	default:
		return nil, fmt.Errorf("-store %q: unknown kind %q; want bolt, dynamodb or memory", cfg.store, kind)
	}
}

// storeCommand implements `tollgate store init`: it creates the DynamoDB
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

// usageCommand implements `tollgate usage [--month YYYY-MM]`: spend per
// key, team and in total, from the store.
func usageCommand(ctx context.Context, inv *invocation) error {
	fs := inv.flags()
	url := fs.String("store", envOr(inv.getenv, "TOLLGATE_STORE", defaultStore), "usage store (env TOLLGATE_STORE)")
	month := fs.String("month", budget.Period(time.Now()), "the month, YYYY-MM (UTC)")
	if err := inv.noArgs(fs); err != nil {
		return err
	}
	if _, err := time.Parse("2006-01", *month); err != nil {
		return inv.mistake("-month %q: want YYYY-MM", *month)
	}
	stdout := inv.stdout
	cfg := serveConfig{store: *url, allowLocalStore: true}
	var awsCfg aws.Config
	if storeKind(*url) == "dynamodb" {
		var err error
		if awsCfg, err = config.LoadDefaultConfig(ctx); err != nil {
			return fmt.Errorf("load AWS configuration: %w", err)
		}
	}
	store, err := openStore(ctx, cfg, awsCfg)
	if err != nil {
		return err
	}
	defer store.Close()
	totals, err := store.List(ctx, *month)
	if err != nil {
		return err
	}
	printUsage(stdout, *month, totals)
	return nil
}

func printUsage(w io.Writer, month string, totals map[usage.Scope]usage.Totals) {
	scopes := make([]usage.Scope, 0, len(totals))
	for s := range totals {
		scopes = append(scopes, s)
	}
	rank := map[usage.Kind]int{usage.KindKey: 0, usage.KindTeam: 1, usage.KindGlobal: 2}
	sort.Slice(scopes, func(i, j int) bool {
		if rank[scopes[i].Kind] != rank[scopes[j].Kind] {
			return rank[scopes[i].Kind] < rank[scopes[j].Kind]
		}
		return scopes[i].ID < scopes[j].ID
	})
	fmt.Fprintf(w, "usage in %s (UTC)\n", month)
	if len(scopes) == 0 {
		fmt.Fprintln(w, "no spend recorded")
		return
	}
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "SCOPE\tID\tSPENT\tRESERVED")
	for _, s := range scopes {
		id := s.ID
		if s.Kind == usage.KindGlobal {
			id = "(total)"
		}
		t := totals[s]
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\n", s.Kind, id, budget.USD(t.Spent), budget.USD(t.Reserved))
	}
	tw.Flush()
}
