package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
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

// storeCommand implements `tollgate store init`: it creates the DynamoDB
// usage table named by -store (on-demand billing, TTL on), and does nothing
// for an embedded store, which creates itself.
func storeCommand(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	if len(args) == 0 || args[0] != "init" {
		return errors.New("usage: tollgate store init [-store dynamodb://TABLE]")
	}
	fs := flag.NewFlagSet("tollgate store init", flag.ContinueOnError)
	fs.SetOutput(stderr)
	url := fs.String("store", envOr(getenv, "TOLLGATE_STORE", defaultStore), "usage store (env TOLLGATE_STORE)")
	if err := fs.Parse(args[1:]); err != nil {
		return err
	}
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
func usageCommand(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("tollgate usage", flag.ContinueOnError)
	fs.SetOutput(stderr)
	url := fs.String("store", envOr(getenv, "TOLLGATE_STORE", defaultStore), "usage store (env TOLLGATE_STORE)")
	month := fs.String("month", budget.Period(time.Now()), "the month, YYYY-MM (UTC)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if _, err := time.Parse("2006-01", *month); err != nil {
		return fmt.Errorf("-month %q: want YYYY-MM", *month)
	}
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

// printUsage prints the counters of month, then "global (total)": the sum
// of every key's counter, which is the gateway's whole spend (only capped
// teams and a capped global scope have counters of their own, the latter
// shown as "global (cap)").
func printUsage(w io.Writer, month string, totals map[usage.Scope]usage.Totals) {
	scopes := make([]usage.Scope, 0, len(totals))
	var sum usage.Totals
	for s, t := range totals {
		scopes = append(scopes, s)
		if s.Kind == usage.KindKey {
			sum.Spent += t.Spent
			sum.Reserved += t.Reserved
			sum.Estimated += t.Estimated
		}
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
	fmt.Fprintln(tw, "SCOPE\tID\tSPENT\tRESERVED\tOF SPENT, ESTIMATED")
	row := func(kind usage.Kind, id string, t usage.Totals) {
		est := "-"
		if t.Estimated != 0 {
			est = budget.USD(t.Estimated)
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\n", kind, id, budget.USD(t.Spent), budget.USD(t.Reserved), est)
	}
	for _, s := range scopes {
		id := s.ID
		if s.Kind == usage.KindGlobal {
			id = "(cap)"
		}
		row(s.Kind, id, totals[s])
	}
	row(usage.KindGlobal, "(total)", sum)
	tw.Flush()
	if sum.Estimated != 0 {
		fmt.Fprintln(w, "estimated: charged at the worst case of requests whose settlement never reached the store before their lease ended")
	}
}
