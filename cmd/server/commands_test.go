package main

import (
	"context"
	"io"
	"math"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/tollgate-gw/tollgate/internal/budget"
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
			if err := g.stop(); err != nil { // bbolt: one process at a time
				t.Fatal(err)
			}

			var out strings.Builder
			if err := run(context.Background(), []string{"usage", "-store", store}, func(string) string { return "" }, &out, io.Discard); err != nil {
				t.Fatalf("usage: %v", err)
			}
			got := out.String()
			for _, want := range []string{"key     capped", "key     free", "global  (total)", budgetUSD(spent)} {
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

// budgetUSD renders dollars as `tollgate usage` prints them.
func budgetUSD(usd float64) string { return budget.USD(int64(math.Round(usd * 1e6))) }

// TestPrintUsage: the counters, then "global (total)", the sum of every
// key's (uncapped teams and an uncapped global scope have no counter), and
// the estimated part of spend when there is one.
func TestPrintUsage(t *testing.T) {
	var out strings.Builder
	printUsage(&out, "2026-11", map[usage.Scope]usage.Totals{
		{Kind: usage.KindKey, ID: "a"}:    {Spent: 1_000_000, Reserved: 20_000},
		{Kind: usage.KindKey, ID: "b"}:    {Spent: 500_000, Estimated: 300_000},
		{Kind: usage.KindTeam, ID: "lab"}: {Spent: 500_000, Estimated: 300_000},
	})
	want := `usage in 2026-11 (UTC)
SCOPE   ID       SPENT  RESERVED  OF SPENT, ESTIMATED
key     a        $1.00  $0.02     -
key     b        $0.50  $0.00     $0.30
team    lab      $0.50  $0.00     $0.30
global  (total)  $1.50  $0.02     $0.30
estimated: charged at the worst case of requests whose settlement never reached the store before their lease ended
`
	if d := cmp.Diff(want, out.String()); d != "" {
		t.Errorf("output (-want +got):\n%s", d)
	}
}
