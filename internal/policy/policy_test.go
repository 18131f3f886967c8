package policy_test

import (
	"errors"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"

	"github.com/tollgate-gw/tollgate"
	"github.com/tollgate-gw/tollgate/internal/policy"
)

var (
	aliceHash = policy.HashSecret("alice-secret")
	bobHash   = policy.HashSecret("bob-secret")
)

// parse parses files given as name, content pairs, failing the test on error.
func parse(t *testing.T, nameContent ...string) *policy.Policy {
	t.Helper()
	p, err := policy.Parse(files(nameContent...))
	if err != nil {
		t.Fatalf("Parse: %v", err)
	}
	return p
}

func files(nameContent ...string) map[string][]byte {
	m := map[string][]byte{}
	for i := 0; i+1 < len(nameContent); i += 2 {
		m[nameContent[i]] = []byte(nameContent[i+1])
	}
	return m
}

func ptr[T any](v T) *T { return &v }

func TestPolicyMatch(t *testing.T) {
	tests := []struct {
		pattern, name string
		want          bool
	}{
		{"anthropic.claude-3-haiku-*", "anthropic.claude-3-haiku-20240307-v1:0", true},
		{"anthropic.claude-3-haiku-*", "anthropic.claude-3-5-haiku-20241022-v1:0", false},
		{"us.anthropic.*", "us.anthropic.claude-sonnet-4-20250514-v1:0", true},
		{"us.anthropic.*", "eu.anthropic.claude-sonnet-4-20250514-v1:0", false},
		{"*opus*", "anthropic.claude-opus-4-1-20250805-v1:0", true},
		{"*", "arn:aws:bedrock:us-east-1:123456789012:application-inference-profile/abc", true},
		{"arn:aws:bedrock:*:application-inference-profile/*", "arn:aws:bedrock:us-east-1:123456789012:application-inference-profile/abc", true},
		{"amazon.nova-?ite-v1:0", "amazon.nova-lite-v1:0", true},
		{"amazon.nova-lite-v1:0", "amazon.nova-lite-v1:0", true},
		{"amazon.nova-lite-v1:0", "amazon.nova-lite-v1:01", false},
		{"Amazon.nova-lite-v1:0", "amazon.nova-lite-v1:0", false},
		{"a*b*c", "aXXbYYc", true},
		{"a*b*c", "aXXbYY", false},
		{"", "", true},
		{"", "x", false},
		{"**", "", true},
	}
	for _, tt := range tests {
		if got := policy.Match(tt.pattern, tt.name); got != tt.want {
			t.Errorf("Match(%q, %q) = %v, want %v", tt.pattern, tt.name, got, tt.want)
		}
	}
}

// everyField sets every field of the policy file format, split across files
// the way an admin might.
var everyField = files(
	"keys.yaml", `
keys:
  - id: alice
    sha256: "`+strings.ToUpper(aliceHash)+`"
    team: research
    models: ["anthropic.claude-3-haiku-*", "us.anthropic.*", "gpt-4o-mini"]
    deny: ["*opus*"]
    monthly_budget_usd: 20
    alert_at: 0.8
    enabled: true
    expires: 2027-01-01
  - id: bob
    sha256: `+bobHash+`
    enabled: false
`,
	"org.yml", `
teams:
  - id: research
    monthly_budget_usd: 100
    alert_at: 0.9
  - id: ops
budget:
  monthly_budget_usd: 1000.5
  alert_at: 0.95
aliases:
  gpt-4o-mini: anthropic.claude-3-haiku-20240307-v1:0
  fast: amazon.nova-micro-v1:0
pricing:
  anthropic.claude-3-haiku-20240307-v1:0: {input: 0.3, output: 1.5, cache_read: 0.04, cache_write: 0.35}
  my.custom-model-v1:0: {input: 1, output: 2}
`,
	"README.yaml", "# only a comment\n",
)

func TestPolicyParseEveryField(t *testing.T) {
	p, err := policy.Parse(everyField)
	if err != nil {
		t.Fatal(err)
	}
	wantKeys := []*policy.Key{
		{
			ID: "alice", SHA256: aliceHash, Team: "research",
			Models:           []string{"anthropic.claude-3-haiku-*", "us.anthropic.*", "gpt-4o-mini"},
			Deny:             []string{"*opus*"},
			MonthlyBudgetUSD: ptr(20.0), AlertAt: policy.Fractions{0.8}, Enabled: ptr(true),
			Expires: &policy.Date{Year: 2027, Month: time.January, Day: 1},
		},
		{ID: "bob", SHA256: bobHash, Enabled: ptr(false)},
	}
	opts := cmpopts.IgnoreUnexported(policy.Key{}, policy.Team{})
	if diff := cmp.Diff(wantKeys, p.Keys, opts); diff != "" {
		t.Errorf("keys (-want +got):\n%s", diff)
	}
	wantTeams := []*policy.Team{{ID: "research", MonthlyBudgetUSD: ptr(100.0), AlertAt: policy.Fractions{0.9}}, {ID: "ops"}}
	if diff := cmp.Diff(wantTeams, p.Teams(), opts); diff != "" {
		t.Errorf("teams (-want +got):\n%s", diff)
	}
	alice, _ := p.KeyByID("alice")
	bob, _ := p.KeyByID("bob")
	got := map[string]any{
		"global":       p.GlobalBudgetMicros(),
		"alice budget": alice.BudgetMicros(),
		"bob budget":   bob.BudgetMicros(),
		"alice caps":   p.Caps(alice),
		"bob caps":     p.Caps(bob),
		"alice alerts": p.Alerts(alice),
		"bob alerts":   p.Alerts(bob),
		"aliases":      p.Aliases(),
		"expires":      alice.Expires.String(),
	}
	for _, id := range []string{"anthropic.claude-3-haiku-20240307-v1:0", "my.custom-model-v1:0"} {
		got["price "+id], _ = p.Price(id)
	}
	want := map[string]any{
		"global":       int64(1_000_500_000),
		"alice budget": int64(20_000_000),
		"bob budget":   policy.Uncapped,
		"alice caps":   policy.Caps{Key: monthly(20_000_000), Team: monthly(100_000_000), Global: monthly(1_000_500_000), TeamID: "research"},
		"bob caps":     policy.Caps{Key: policy.NoLimits, Team: policy.NoLimits, Global: monthly(1_000_500_000)},
		"alice alerts": policy.Alerts{Key: 0.8, Team: 0.9, Global: 0.95},
		"bob alerts":   policy.Alerts{Global: 0.95},
		"aliases":      map[string]string{"gpt-4o-mini": "anthropic.claude-3-haiku-20240307-v1:0", "fast": "amazon.nova-micro-v1:0"},
		"expires":      "2027-01-01",
		"price anthropic.claude-3-haiku-20240307-v1:0": policy.Price{Input: 300, Output: 1500, CacheRead: 40, CacheWrite: 350},
		"price my.custom-model-v1:0":                   policy.Price{Input: 1000, Output: 2000, CacheRead: 100, CacheWrite: 1250},
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("derived values (-want +got):\n%s", diff)
	}
	if _, n := p.PricedModels(); n != 2 {
		t.Errorf("PricedModels: %d from the policy, want 2", n)
	}
	if len(p.Version) != 12 {
		t.Errorf("Version = %q, want 12 hex digits", p.Version)
	}
}

func TestPolicyVersion(t *testing.T) {
	a := parse(t, "/etc/tollgate/p.yaml", "keys: []\n")
	b := parse(t, "s3://bucket/prefix/p.yaml", "keys: []\n")
	c := parse(t, "p.yaml", "keys: []\n# changed\n")
	if a.Version != b.Version {
		t.Errorf("the same file from two places has versions %s and %s", a.Version, b.Version)
	}
	if a.Version == c.Version {
		t.Error("a changed file kept its version")
	}
}

func TestPolicyAuthenticate(t *testing.T) {
	p, err := policy.Parse(everyField)
	if err != nil {
		t.Fatal(err)
	}
	p, err = p.WithKey(policy.Key{ID: "carol", SHA256: policy.HashSecret("carol-secret"), Expires: &policy.Date{Year: 2026, Month: time.March, Day: 1}})
	if err != nil {
		t.Fatal(err)
	}
	day := func(s string) time.Time {
		tm, err := time.Parse(time.RFC3339, s)
		if err != nil {
			t.Fatal(err)
		}
		return tm
	}
	unknown := "Incorrect API key provided. Check the key, or ask your Tollgate administrator for one."
	tests := []struct {
		name, secret string
		now          time.Time
		wantID       string
		wantMessage  string
	}{
		{"alice", "alice-secret", day("2026-06-01T00:00:00Z"), "alice", ""},
		{"last second before expiry", "alice-secret", day("2026-12-31T23:59:59Z"), "alice", ""},
		{"expires at 00:00 UTC", "alice-secret", day("2027-01-01T00:00:00Z"), "", "This API key expired on 2027-01-01 (00:00 UTC). Ask your Tollgate administrator for a new one."},
		{"expiry is UTC whatever the clock's zone", "alice-secret", day("2026-12-31T20:00:00-05:00"), "", "This API key expired on 2027-01-01 (00:00 UTC). Ask your Tollgate administrator for a new one."},
		{"disabled", "bob-secret", day("2026-06-01T00:00:00Z"), "", "This API key has been disabled. Ask your Tollgate administrator to enable it or to issue a new one."},
		{"added key expired", "carol-secret", day("2026-06-01T00:00:00Z"), "", "This API key expired on 2026-03-01 (00:00 UTC). Ask your Tollgate administrator for a new one."},
		{"trailing space", "alice-secret ", day("2026-06-01T00:00:00Z"), "", unknown},
		{"empty", "", day("2026-06-01T00:00:00Z"), "", unknown},
		{"the hash is not the secret", aliceHash, day("2026-06-01T00:00:00Z"), "", unknown},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			k, err := p.Authenticate(tt.secret, tt.now)
			gotID, gotMessage := "", ""
			if k != nil {
				gotID = k.ID
			}
			if err != nil {
				var te *tollgate.Error
				if !errors.As(err, &te) || te.Kind != tollgate.Unauthenticated || te.Code != "invalid_api_key" {
					t.Fatalf("error %#v is not Unauthenticated/invalid_api_key", err)
				}
				gotMessage = te.Message
				if tt.secret != "" && strings.Contains(te.Error(), tt.secret) {
					t.Errorf("the error echoes the secret: %s", te.Error())
				}
			}
			if diff := cmp.Diff([2]string{tt.wantID, tt.wantMessage}, [2]string{gotID, gotMessage}); diff != "" {
				t.Errorf("Authenticate (-want +got):\n%s", diff)
			}
		})
	}
}

func TestPolicyWithKey(t *testing.T) {
	p := parse(t, "p.yaml", "teams:\n  - id: t\n")
	p2, err := p.WithKey(policy.Key{ID: "demo", SHA256: policy.HashSecret("demo-secret"), Team: "t"})
	if err != nil {
		t.Fatal(err)
	}
	now := time.Now()
	if _, err := p2.Authenticate("demo-secret", now); err != nil {
		t.Errorf("added key not accepted: %v", err)
	}
	if _, err := p.Authenticate("demo-secret", now); err == nil {
		t.Error("WithKey changed the original policy")
	}
	tests := []struct {
		name    string
		key     policy.Key
		wantErr string
	}{
		{"duplicate id", policy.Key{ID: "demo", SHA256: policy.HashSecret("other")}, `key "demo".id: duplicate key id "demo" (also added by the gateway)`},
		{"duplicate hash", policy.Key{ID: "other", SHA256: policy.HashSecret("demo-secret")}, `key "other".sha256: keys "demo" and "other" have the same sha256`},
		{"undefined team", policy.Key{ID: "x", SHA256: policy.HashSecret("x"), Team: "nope"}, `key "x".team: team "nope" is not defined`},
		{"bad hash", policy.Key{ID: "x", SHA256: "abc"}, `key "x".sha256: key "x" needs the 64 hex digits`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := p2.WithKey(tt.key)
			if err == nil || !strings.HasPrefix(err.Error(), tt.wantErr) {
				t.Errorf("WithKey error = %v, want it to start with %q", err, tt.wantErr)
			}
		})
	}
}

func TestPolicyLoadDir(t *testing.T) {
	dir := t.TempDir()
	write := func(name, content string) {
		t.Helper()
		if err := os.WriteFile(filepath.Join(dir, name), []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	write("a.yaml", "keys:\n  - id: a\n    sha256: "+aliceHash+"\n")
	write("b.yml", "keys:\n  - id: b\n    sha256: "+bobHash+"\n")
	write(".hidden.yaml", "not: [valid\n")
	write("notes.txt", "not: [valid\n")
	if err := os.Mkdir(filepath.Join(dir, "sub.yaml"), 0o755); err != nil {
		t.Fatal(err)
	}
	p, err := policy.Load(dir)
	if err != nil {
		t.Fatal(err)
	}
	var ids []string
	for _, k := range p.Keys {
		ids = append(ids, k.ID)
	}
	if diff := cmp.Diff([]string{"a", "b"}, ids); diff != "" {
		t.Errorf("keys (-want +got):\n%s", diff)
	}

	write("c.yaml", "keys:\n  - id: c\n    sha256: nope\n")
	_, err = policy.Load(dir)
	if want := filepath.Join(dir, "c.yaml") + ":3: keys[0].sha256: "; err == nil || !strings.HasPrefix(err.Error(), want) {
		t.Errorf("Load error = %v, want it to start with %q", err, want)
	}
	if _, err := policy.Load(filepath.Join(dir, "missing")); err == nil || !strings.Contains(err.Error(), "does not exist") {
		t.Errorf("Load of a missing directory: %v", err)
	}
}

// TestPolicyShippedExamples loads the shipped policies/example.yaml as it
// ships (no keys), then the commented-out example in it and the complete
// example of docs/policy.md once uncommented, so the documentation stays
// valid. It reads that one file, not the directory: keys a user adds to
// policies/, as the README says, are theirs.
func TestPolicyShippedExamples(t *testing.T) {
	example, err := os.ReadFile("../../policies/example.yaml")
	if err != nil {
		t.Fatal(err)
	}
	p := parse(t, "example.yaml", string(example))
	if len(p.Keys) != 0 {
		t.Errorf("policies/example.yaml ships %d keys, want none", len(p.Keys))
	}
	var uncommented []string
	in := false
	for _, line := range strings.Split(string(example), "\n") {
		switch {
		case line == "# ---- BEGIN EXAMPLE ----":
			in = true
		case line == "# ---- END EXAMPLE ----":
			in = false
		case in && line == "#":
			uncommented = append(uncommented, "")
		case in:
			rest, ok := strings.CutPrefix(line, "# ")
			if !ok {
				t.Fatalf("example.yaml: %q in the example is not commented out", line)
			}
			uncommented = append(uncommented, rest)
		}
	}
	p = parse(t, "example.yaml", strings.Join(uncommented, "\n"))
	if len(p.Keys) == 0 || len(p.Teams()) == 0 || len(p.Aliases()) == 0 || p.GlobalBudgetMicros() == policy.Uncapped {
		t.Errorf("the uncommented example.yaml does not set every section:\n%s", strings.Join(uncommented, "\n"))
	}

	doc, err := os.ReadFile("../../docs/policy.md")
	if err != nil {
		t.Fatal(err)
	}
	blocks := regexp.MustCompile("(?s)```yaml\n(.*?)```").FindAllStringSubmatch(string(doc), -1)
	if len(blocks) == 0 {
		t.Fatal("docs/policy.md has no yaml example")
	}
	p = parse(t, "policy.md", blocks[0][1])
	if len(p.Keys) == 0 || len(p.Teams()) == 0 || len(p.Aliases()) == 0 || p.GlobalBudgetMicros() == policy.Uncapped {
		t.Error("the first example of docs/policy.md does not set every section")
	}
}

// TestReauthenticate: a request is admitted under the policy in force at
// its budget check. A key disabled, removed, expired or given a new secret
// after the request's headers were read is refused; otherwise the current
// version of the key, with its current caps and models, is returned (issue
// 13, point 5).
func TestReauthenticate(t *testing.T) {
	before := parse(t, "p.yaml", `
keys:
  - {id: stays, sha256: `+policy.HashSecret("stays")+`, monthly_budget_usd: 10}
  - {id: disabled, sha256: `+policy.HashSecret("disabled")+`}
  - {id: removed, sha256: `+policy.HashSecret("removed")+`}
  - {id: rotated, sha256: `+policy.HashSecret("rotated")+`}
  - {id: expiring, sha256: `+policy.HashSecret("expiring")+`}
`)
	after := parse(t, "p.yaml", `
keys:
  - {id: stays, sha256: `+policy.HashSecret("stays")+`, monthly_budget_usd: 0, models: ["amazon.*"]}
  - {id: disabled, sha256: `+policy.HashSecret("disabled")+`, enabled: false}
  - {id: rotated, sha256: `+policy.HashSecret("rotated-2")+`}
  - {id: expiring, sha256: `+policy.HashSecret("expiring")+`, expires: 2026-12-02}
`)
	now := time.Date(2026, 12, 2, 8, 0, 0, 0, time.UTC)
	tests := []struct {
		id          string
		wantMessage string // "" when accepted
	}{
		{"stays", ""},
		{"disabled", "This API key has been disabled. Ask your Tollgate administrator to enable it or to issue a new one."},
		{"removed", "Incorrect API key provided. Check the key, or ask your Tollgate administrator for one."},
		{"rotated", "Incorrect API key provided. Check the key, or ask your Tollgate administrator for one."},
		{"expiring", "This API key expired on 2026-12-02 (00:00 UTC). Ask your Tollgate administrator for a new one."},
	}
	for _, tt := range tests {
		t.Run(tt.id, func(t *testing.T) {
			old, err := before.Authenticate(tt.id, now)
			if err != nil {
				t.Fatalf("Authenticate under the first policy: %v", err)
			}
			k, err := after.Reauthenticate(old, now)
			gotMessage := ""
			if err != nil {
				var te *tollgate.Error
				if !errors.As(err, &te) || te.Kind != tollgate.Unauthenticated || te.Code != "invalid_api_key" {
					t.Fatalf("error %#v is not Unauthenticated/invalid_api_key", err)
				}
				gotMessage = te.Message
			}
			if diff := cmp.Diff(tt.wantMessage, gotMessage); diff != "" {
				t.Fatalf("Reauthenticate (-want +got):\n%s", diff)
			}
			if err == nil && (k.BudgetMicros() != 0 || !k.Restricted()) {
				t.Errorf("Reauthenticate returned the key with budget %d, models %v: want the current policy's ($0, amazon.*)", k.BudgetMicros(), k.Models)
			}
		})
	}
}

// TestRates: a key's rate limits and its team's, as the policy sets them.
func TestRates(t *testing.T) {
	p := parse(t, "p.yaml", "keys:\n"+key("a", "team: t", "requests_per_minute: 60", "max_concurrent_requests: 4")+key("b")+
		"teams:\n  - id: t\n    tokens_per_minute: 100000\n")
	a, _ := p.KeyByID("a")
	b, _ := p.KeyByID("b")
	want := policy.Rates{TeamID: "t",
		Key:  policy.RateLimits{RequestsPerMinute: ptr(int64(60)), MaxConcurrentRequests: ptr(int64(4))},
		Team: policy.RateLimits{TokensPerMinute: ptr(int64(100000))}}
	if d := cmp.Diff(want, p.Rates(a)); d != "" {
		t.Errorf("Rates(a) (-want +got):\n%s", d)
	}
	if r := p.Rates(b); r.Key.Limited() || r.Team.Limited() {
		t.Errorf("Rates(b) = %+v, want no limits", r)
	}
}

// monthly is a scope capped by the month alone.
func monthly(micros int64) policy.Limits {
	l := policy.NoLimits
	l.Monthly = micros
	return l
}

// TestBudgetPeriods: daily and weekly budgets sit beside the monthly one on
// a key, a team and the global budget; an alert needs any of them; a
// shorter period's cap above a longer one's is accepted (it never binds).
func TestBudgetPeriods(t *testing.T) {
	p := parse(t, "p.yaml", "keys:\n"+key("alice", "team: t", "daily_budget_usd: 5", "monthly_budget_usd: 100", "alert_at: 0.8")+
		key("bob", "daily_budget_usd: 50", "weekly_budget_usd: 20", "monthly_budget_usd: 10")+
		"teams:\n  - id: t\n    weekly_budget_usd: 30\n    alert_at: [0.5]\n"+
		"budget:\n  daily_budget_usd: 1000\n")
	alice, _ := p.KeyByID("alice")
	bob, _ := p.KeyByID("bob")
	u := policy.Uncapped
	got := map[string]policy.Caps{"alice": p.Caps(alice), "bob": p.Caps(bob)}
	want := map[string]policy.Caps{
		"alice": {Key: policy.Limits{Daily: 5e6, Weekly: u, Monthly: 100e6}, Team: policy.Limits{Daily: u, Weekly: 30e6, Monthly: u},
			Global: policy.Limits{Daily: 1000e6, Weekly: u, Monthly: u}, TeamID: "t"},
		"bob": {Key: policy.Limits{Daily: 50e6, Weekly: 20e6, Monthly: 10e6}, Team: policy.NoLimits,
			Global: policy.Limits{Daily: 1000e6, Weekly: u, Monthly: u}},
	}
	if d := cmp.Diff(want, got); d != "" {
		t.Errorf("Caps mismatch (-want +got):\n%s", d)
	}
	if !got["alice"].Capped() || (policy.Caps{Key: policy.NoLimits, Team: policy.NoLimits, Global: policy.NoLimits}).Capped() {
		t.Error("Capped: want true for a daily cap alone, false for none")
	}
	if key, team, _ := p.Thresholds(alice); !cmp.Equal(key, []float64{0.8, 1}) || !cmp.Equal(team, []float64{0.5, 1}) {
		t.Errorf("Thresholds = %v, %v", key, team)
	}
}
