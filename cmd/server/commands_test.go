package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/tollgate-gw/tollgate/internal/budget"
	"github.com/tollgate-gw/tollgate/internal/policy"
	"github.com/tollgate-gw/tollgate/internal/testsvc"
	"github.com/tollgate-gw/tollgate/internal/usage"
)

// TestUsageCommand prints the month's spend per key, team and total from
// the store a gateway wrote, on bbolt and on DynamoDB (whose table `store
// init` creates).
func TestUsageCommand(t *testing.T) {
	for _, kind := range []string{"bolt", "dynamodb"} {
		t.Run(kind, func(t *testing.T) {
			store := "bolt://" + filepath.Join(t.TempDir(), "usage.db")
			if kind == "dynamodb" {
				t.Setenv("AWS_ENDPOINT_URL_DYNAMODB", testsvc.DynamoDB(t))
				t.Setenv("AWS_ACCESS_KEY_ID", "local")
				t.Setenv("AWS_SECRET_ACCESS_KEY", "local")
				t.Setenv("AWS_REGION", "us-east-1")
				t.Setenv("AWS_EC2_METADATA_DISABLED", "true")
				store = "dynamodb://usage_cmd"
				var out strings.Builder
				if err := run(context.Background(), []string{"store", "init", "-store", store}, func(string) string { return "" }, &out, io.Discard); err != nil {
					t.Fatalf("store init: %v", err)
				}
				if !strings.Contains(out.String(), "usage_cmd is ready") {
					t.Errorf("store init printed %q", out.String())
				}
				// Creating it again is harmless.
				if err := run(context.Background(), []string{"store", "init", "-store", store}, func(string) string { return "" }, io.Discard, io.Discard); err != nil {
					t.Errorf("store init twice: %v", err)
				}
			}
			dir := t.TempDir()
			writeBudgetPolicy(t, dir, "20")
			g := startGateway(t, nil, "-sim", "-policies", dir, "-store", store)
			for _, secret := range []string{freeSecret, cappedSecret} {
				if status, _, b := g.do(t, "POST", "/v1/chat/completions", secret, "application/json", chatBody("hi [sim:tokens=100]", 200, false)); status != 200 {
					t.Fatalf("%d %s", status, b)
				}
			}
			spent := g.usage(t, freeSecret).Key.SpentUSD
			capped := g.usage(t, cappedSecret).Key.SpentUSD
			if err := g.stop(); err != nil { // bbolt: one process at a time
				t.Fatal(err)
			}

			var out strings.Builder
			if err := run(context.Background(), []string{"usage", "-store", store, "-policies", dir}, func(string) string { return "" }, &out, io.Discard); err != nil {
				t.Fatalf("usage: %v", err)
			}
			got := out.String()
			for _, want := range []string{
				"key     capped", "key     free", "global  (total)", dollars(&spent),
				dollars(&capped) + "  $0.000000  $20.000000  " + dollars(ptr(20-capped)),
			} {
				if !strings.Contains(got, want) {
					t.Errorf("usage output lacks %q:\n%s", want, got)
				}
			}
			out.Reset()
			if err := run(context.Background(), []string{"usage", "-store", store, "-month", "2001-01"}, func(string) string { return "" }, &out, io.Discard); err != nil || !strings.Contains(out.String(), "no spend recorded") {
				t.Errorf("an empty month: %v\n%s", err, out.String())
			}
			if err := run(context.Background(), []string{"usage", "-store", store, "-month", "November"}, func(string) string { return "" }, io.Discard, io.Discard); err == nil {
				t.Error("a bad -month was accepted")
			}
		})
	}
}

func ptr[T any](v T) *T { return &v }

// TestUsageBesideGateway runs `tollgate usage` while a gateway holds the
// bbolt file: it asks the gateway's admin listener and says so; a second
// gateway on the same file is told who holds it; with the admin listener
// off, usage says what to do; once the gateway stopped, the file is read
// read-only.
func TestUsageBesideGateway(t *testing.T) {
	file := filepath.Join(t.TempDir(), "usage.db")
	store := "bolt://" + file
	dir := t.TempDir()
	writeBudgetPolicy(t, dir, "20")
	noEnv := func(string) string { return "" }
	g := startGateway(t, nil, "-sim", "-policies", dir, "-store", store)
	if status, _, b := g.do(t, "POST", "/v1/chat/completions", cappedSecret, "application/json", chatBody("hi [sim:tokens=100]", 200, false)); status != 200 {
		t.Fatalf("%d %s", status, b)
	}
	spent := g.usage(t, cappedSecret).Key.SpentUSD
	addr := strings.TrimPrefix(g.baseURL, "http://")
	holderText := fmt.Sprintf("pid %d, serving on %s", os.Getpid(), addr)

	var out, errOut strings.Builder
	// No -policies: the running gateway's own policy gives the limits.
	if err := run(context.Background(), []string{"usage", "-store", store, "-json"}, noEnv, &out, &errOut); err != nil {
		t.Fatalf("usage beside the gateway: %v\n%s", err, errOut.String())
	}
	var report usageReport
	if err := json.Unmarshal([]byte(out.String()), &report); err != nil {
		t.Fatalf("usage -json: %v\n%s", err, out.String())
	}
	period := budget.Period(time.Now())
	want := usageReport{
		Period: period,
		Source: "the running gateway (" + holderText + ", admin " + strings.TrimPrefix(g.adminURL, "http://") + ")",
		Rows: []usageRow{
			{Scope: "key", ID: "capped", Period: period, SpentUSD: spent, LimitUSD: ptr(20.0), Remaining: ptr(float64(20_000_000-int64(math.Round(spent*1e6))) / 1e6)},
			{Scope: "global", ID: "(total)", Period: period, SpentUSD: spent},
		},
	}
	if diff := cmp.Diff(want, report); diff != "" {
		t.Errorf("usage -json (-want +got):\n%s", diff)
	}

	// A second gateway on the same file.
	err := run(context.Background(), []string{"serve", "-sim", "-addr", "127.0.0.1:0", "-admin-addr", "off", "-policies", dir, "-store", store}, noEnv, io.Discard, io.Discard)
	if wantErr := "usage store " + file + " is locked by another process (a tollgate gateway: " + holderText + "): stop it, or give this one another -store"; err == nil || err.Error() != wantErr {
		t.Errorf("a second gateway: %v, want %q", err, wantErr)
	}
	if err := g.stop(); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(file + ".holder"); !os.IsNotExist(err) {
		t.Errorf("the holder file outlived the gateway: %v", err)
	}

	// The admin listener off.
	g = startGateway(t, nil, "-sim", "-policies", dir, "-store", store, "-admin-addr", "off")
	holderText = fmt.Sprintf("pid %d, serving on %s", os.Getpid(), strings.TrimPrefix(g.baseURL, "http://"))
	err = run(context.Background(), []string{"usage", "-store", store}, noEnv, io.Discard, io.Discard)
	if wantErr := "usage store " + file + " is held by a running gateway (" + holderText + ") whose admin listener is off: start it with -admin-addr, or stop the gateway to read the file"; err == nil || err.Error() != wantErr {
		t.Errorf("usage beside a gateway without admin listener: %v, want %q", err, wantErr)
	}
	if err := g.stop(); err != nil {
		t.Fatal(err)
	}

	out.Reset()
	if err := run(context.Background(), []string{"usage", "-store", store, "-policies", dir}, noEnv, &out, io.Discard); err != nil {
		t.Fatalf("usage after the gateway stopped: %v", err)
	}
	if want := "usage in " + period + " (UTC), from " + file + " (read-only)\n"; !strings.HasPrefix(out.String(), want) || !strings.Contains(out.String(), dollars(&spent)) {
		t.Errorf("usage after the gateway stopped:\n%s\nwant it to start with %q and show %s", out.String(), want, dollars(&spent))
	}

	// A stale holder file (a crashed gateway's, its pid reused by a live
	// process) is not believed once the file turns out to be free.
	stale := fmt.Sprintf(`{"pid":%d,"addr":"127.0.0.1:1","admin":"127.0.0.1:1"}`, os.Getpid())
	if err := os.WriteFile(file+".holder", []byte(stale), 0o644); err != nil {
		t.Fatal(err)
	}
	out.Reset()
	if err := run(context.Background(), []string{"usage", "-store", store}, noEnv, &out, io.Discard); err != nil || !strings.Contains(out.String(), "(read-only)") {
		t.Errorf("usage with a stale holder file: %v\n%s", err, out.String())
	}
}

// TestPrintUsage: the counters with the caps of the policy, each scope
// capped by the week or the day followed by its row of the current week or
// day, then "global (total)", the sum of every key's (uncapped teams and an
// uncapped global scope have no counter), and the estimated part of spend
// when there is one.
func TestPrintUsage(t *testing.T) {
	p := parsePolicy(t, `keys:
  - {id: a, sha256: "`+strings.Repeat("a", 64)+`", team: lab, monthly_budget_usd: 5}
  - {id: b, sha256: "`+strings.Repeat("b", 64)+`"}
  - {id: c, sha256: "`+strings.Repeat("c", 64)+`", monthly_budget_usd: 2, daily_budget_usd: 0.5}
teams:
  - {id: lab, monthly_budget_usd: 10, weekly_budget_usd: 4}
  - {id: free}
budget:
  monthly_budget_usd: 100
`)
	r := newUsageReport("2026-11", "test", map[string]map[usage.Scope]usage.Totals{
		"2026-11": {
			{Kind: usage.KindKey, ID: "a"}:    {Spent: 1_000_000, Reserved: 20_000},
			{Kind: usage.KindKey, ID: "b"}:    {Spent: 500_000, Estimated: 300_000},
			{Kind: usage.KindTeam, ID: "lab"}: {Spent: 1_000_000, Reserved: 20_000},
			usage.Global:                      {Spent: 1_500_000, Reserved: 20_000, Estimated: 300_000},
		},
		// The current week and day: their rows are the scopes capped by them.
		"2026-W48":   {{Kind: usage.KindTeam, ID: "lab"}: {Spent: 700_000, Reserved: 20_000}},
		"2026-11-26": {{Kind: usage.KindKey, ID: "b"}: {Spent: 40_000}},
	}, p)
	var out strings.Builder
	printUsage(&out, r)
	want := `usage in 2026-11 (UTC), from test
SCOPE   ID       PERIOD          SPENT   RESERVED        LIMIT   REMAINING  OF SPENT, ESTIMATED
key     a        2026-11     $1.000000  $0.020000    $5.000000   $3.980000                    -
key     b        2026-11     $0.500000  $0.000000            -           -            $0.300000
key     c        2026-11     $0.000000  $0.000000    $2.000000   $2.000000                    -
key     c        2026-11-26  $0.000000  $0.000000    $0.500000   $0.500000                    -
team    lab      2026-11     $1.000000  $0.020000   $10.000000   $8.980000                    -
team    lab      2026-W48    $0.700000  $0.020000    $4.000000   $3.280000                    -
global  (cap)    2026-11     $1.500000  $0.020000  $100.000000  $98.480000            $0.300000
global  (total)  2026-11     $1.500000  $0.020000            -           -            $0.300000
estimated: charged at the worst case of requests whose settlement never reached the store before their lease ended
`
	if d := cmp.Diff(want, out.String()); d != "" {
		t.Errorf("output (-want +got):\n%s", d)
	}
}

func parsePolicy(t *testing.T, yaml string) *policy.Policy {
	t.Helper()
	p, err := policy.Parse(map[string][]byte{"p.yaml": []byte(yaml)})
	if err != nil {
		t.Fatal(err)
	}
	return p
}
