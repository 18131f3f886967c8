package api_test

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/tollgate-gw/tollgate/internal/api"
	"github.com/tollgate-gw/tollgate/internal/budget"
	"github.com/tollgate-gw/tollgate/internal/policy"
	"github.com/tollgate-gw/tollgate/internal/usage/memory"
)

// TestUsageShowsOnlyOwnFigures: under a team or global cap, GET /v1/usage
// and the 429 show a key its own spend and reservations exactly, and of the
// scopes it shares only the limit and what is left, rounded down to the
// cent: never another key's spend or the size of its requests in flight
// (issue 13, point 7: a spy key read a victim's spend to the micro-dollar).
func TestUsageShowsOnlyOwnFigures(t *testing.T) {
	const model = "anthropic.claude-3-haiku-20240307-v1:0"
	p, err := policy.Parse(map[string][]byte{"p.yaml": []byte(fmt.Sprintf(`
keys:
  - {id: spy, sha256: %s, team: shared, monthly_budget_usd: 5}
  - {id: victim, sha256: %s, team: shared}
teams:
  - {id: shared, monthly_budget_usd: 1}
budget:
  monthly_budget_usd: 100
`, policy.HashSecret("spy"), policy.HashSecret("victim")))})
	if err != nil {
		t.Fatal(err)
	}
	guard := budget.New(memory.New(), budget.Options{})
	srv := httptest.NewServer(api.NewServer(api.Deps{
		Logger:   slog.New(slog.NewTextHandler(io.Discard, nil)),
		Policies: policy.NewHolder(p),
		Bedrock:  &replyingBedrock{},
		Catalog:  fakeCatalog{},
		Budget:   guard,
	}))
	t.Cleanup(srv.Close)

	// The victim spent 123,457 micro-USD, and has a request of 4,321
	// bytes in flight.
	ctx := context.Background()
	victim, _ := p.KeyByID("victim")
	route, err := p.Route(victim, model)
	if err != nil {
		t.Fatal(err)
	}
	spent, err := guard.Admit(ctx, budget.Request{ID: "r1", Policy: p, Key: victim, Route: route, MaxOutput: 1})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := spent.Settle(ctx, budget.Usage{Input: 493_828}); err != nil { // 0.25 USD per 1M: 123,457 micro-USD
		t.Fatal(err)
	}
	inFlight, err := guard.Admit(ctx, budget.Request{ID: "r2", Policy: p, Key: victim, Route: route, InputBytes: 4321, MaxOutput: 1000})
	if err != nil {
		t.Fatal(err)
	}
	st, _ := guard.Status(ctx, p, victim)
	committed := st.Team.Spent + st.Team.Reserved

	status, body := get(t, srv.URL+"/v1/usage", "spy")
	if status != 200 {
		t.Fatalf("GET /v1/usage: %d %s", status, body)
	}
	var got map[string]any
	if err := json.Unmarshal([]byte(body), &got); err != nil {
		t.Fatal(err)
	}
	left := float64(budget.SharedRemaining(1_000_000, committed)) / 1e6
	globalLeft := float64(budget.SharedRemaining(100_000_000, committed)) / 1e6
	monthly := func(fields map[string]any) map[string]any {
		m := map[string]any{"period": st.Period}
		for k, v := range fields {
			m[k] = v
		}
		fields["periods"] = map[string]any{"monthly": m}
		return fields
	}
	want := map[string]any{
		"key_id": "spy", "period": st.Period, "models": []any{},
		"key":    monthly(map[string]any{"limit_usd": 5.0, "spent_usd": 0.0, "reserved_usd": 0.0, "remaining_usd": 5.0}),
		"team":   monthly(map[string]any{"limit_usd": 1.0, "remaining_usd": left}),
		"global": monthly(map[string]any{"limit_usd": 100.0, "remaining_usd": globalLeft}),
	}
	want["team"].(map[string]any)["id"] = "shared"
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("the spy's usage (-want +got):\n%s", diff)
	}
	if left != 0.87 {
		t.Errorf("team remaining %v USD, want 0.87 (1 - 0.123457 - the request in flight, rounded down to the cent)", left)
	}

	// Filling the team leaves the spy a 429 that shows no figure of the
	// victim's either.
	if _, err := inFlight.Settle(ctx, budget.Usage{Input: 3_600_000}); err != nil { // 900,000 micro-USD: the team is over
		t.Fatal(err)
	}
	status, body = post(t, srv.URL+"/v1/chat/completions", "spy", fmt.Sprintf(`{"model":%q,"messages":[{"role":"user","content":"hi"}]}`, model))
	if status != 429 {
		t.Fatalf("spy after the team is spent: %d %s", status, body)
	}
	for _, leak := range []string{"0.123457", "1.023457", "1.02", "spent", "held"} {
		if strings.Contains(body, leak) {
			t.Errorf("the 429 shows %q, a figure of another key's: %s", leak, body)
		}
	}
}

func get(t *testing.T, url, secret string) (int, string) {
	t.Helper()
	req, _ := http.NewRequest("GET", url, nil)
	req.Header.Set("Authorization", "Bearer "+secret)
	return send(t, req)
}

func post(t *testing.T, url, secret, body string) (int, string) {
	t.Helper()
	req, _ := http.NewRequest("POST", url, strings.NewReader(body))
	req.Header.Set("Authorization", "Bearer "+secret)
	req.Header.Set("Content-Type", "application/json")
	return send(t, req)
}

func send(t *testing.T, req *http.Request) (int, string) {
	t.Helper()
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

// TestUsagePeriods: GET /v1/usage lists, per scope, every period that
// applies: the month always, the week and the day when capped, each with
// its id; the key's own with its figures, a shared one with its limit and
// what is left only.
func TestUsagePeriods(t *testing.T) {
	const model = "anthropic.claude-3-haiku-20240307-v1:0"
	p, err := policy.Parse(map[string][]byte{"p.yaml": []byte(fmt.Sprintf(`
keys:
  - {id: alice, sha256: %s, team: lab, daily_budget_usd: 0.5, monthly_budget_usd: 5}
teams:
  - {id: lab, weekly_budget_usd: 2}
`, policy.HashSecret("alice")))})
	if err != nil {
		t.Fatal(err)
	}
	guard := budget.New(memory.New(), budget.Options{})
	srv := httptest.NewServer(api.NewServer(api.Deps{
		Logger:   slog.New(slog.NewTextHandler(io.Discard, nil)),
		Policies: policy.NewHolder(p),
		Bedrock:  &replyingBedrock{},
		Catalog:  fakeCatalog{},
		Budget:   guard,
	}))
	t.Cleanup(srv.Close)
	alice, _ := p.KeyByID("alice")
	route, err := p.Route(alice, model)
	if err != nil {
		t.Fatal(err)
	}
	tk, err := guard.Admit(context.Background(), budget.Request{ID: "r1", Policy: p, Key: alice, Route: route, MaxOutput: 1})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := tk.Settle(context.Background(), budget.Usage{Input: 400_000}); err != nil { // 0.25 USD per 1M: $0.10
		t.Fatal(err)
	}
	now := time.Now()
	status, body := get(t, srv.URL+"/v1/usage", "alice")
	if status != 200 {
		t.Fatalf("GET /v1/usage: %d %s", status, body)
	}
	var got map[string]any
	if err := json.Unmarshal([]byte(body), &got); err != nil {
		t.Fatal(err)
	}
	own := func(period string, limit, remaining any) map[string]any {
		return map[string]any{"period": period, "limit_usd": limit, "spent_usd": 0.1, "reserved_usd": 0.0, "remaining_usd": remaining}
	}
	month, week, day := budget.PeriodID(budget.Monthly, now), budget.PeriodID(budget.Weekly, now), budget.PeriodID(budget.Daily, now)
	want := map[string]any{
		"key_id": "alice", "period": month, "models": []any{},
		"key": map[string]any{"limit_usd": 5.0, "spent_usd": 0.1, "reserved_usd": 0.0, "remaining_usd": 4.9,
			"periods": map[string]any{"monthly": own(month, 5.0, 4.9), "daily": own(day, 0.5, 0.4)}},
		"team": map[string]any{"id": "lab", "limit_usd": nil, "remaining_usd": nil,
			"periods": map[string]any{
				"monthly": map[string]any{"period": month, "limit_usd": nil, "remaining_usd": nil},
				"weekly":  map[string]any{"period": week, "limit_usd": 2.0, "remaining_usd": 1.9},
			}},
		"global": nil,
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("usage (-want +got):\n%s", diff)
	}
}
