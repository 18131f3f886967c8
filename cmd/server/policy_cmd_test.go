package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/google/go-cmp/cmp"

	"github.com/tollgate-gw/tollgate/internal/policy"
	"github.com/tollgate-gw/tollgate/internal/testsvc"
)

// env is a getenv over a fixed set of variables.
func env(vars ...string) func(string) string {
	m := map[string]string{}
	for i := 0; i+1 < len(vars); i += 2 {
		m[vars[i]] = vars[i+1]
	}
	return func(name string) string { return m[name] }
}

const checkedPolicy = `keys:
  - id: alice
    sha256: "` + "%ALICE%" + `"
    team: research
    models: ["anthropic.claude-3-haiku-*", "fast"]
    deny: ["*opus*"]
    monthly_budget_usd: 20
    alert_at: 0.8
    expires: 2099-01-01
  - id: bob
    sha256: "%BOB%"
    enabled: false
teams:
  - id: research
    monthly_budget_usd: 100
    daily_budget_usd: 2
    alert_at: 0.9
budget:
  monthly_budget_usd: 1000.5
  weekly_budget_usd: 300
aliases:
  fast: amazon.nova-micro-v1:0
pricing:
  my.model-v1:0: {input: 1, output: 2}
`

func policyDir(t *testing.T, content string) string {
	t.Helper()
	dir := t.TempDir()
	content = strings.NewReplacer("%ALICE%", policy.HashSecret("a"), "%BOB%", policy.HashSecret("b")).Replace(content)
	if err := os.WriteFile(filepath.Join(dir, "policy.yaml"), []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
	return dir
}

func TestPolicyCommandCheck(t *testing.T) {
	dir := policyDir(t, checkedPolicy)
	p, err := policy.Load(dir)
	if err != nil {
		t.Fatal(err)
	}
	priced, _ := p.PricedModels()
	want := strings.Join([]string{
		"policy " + dir + " is valid (version " + p.Version + ")",
		"",
		"keys: 2",
		"  ID     TEAM      KEY CAP          TEAM CAP                       MODELS                           DENY    STATUS",
		"  alice  research  $20 (alert 80%)  $100/month $2/day (alert 90%)  anthropic.claude-3-haiku-* fast  *opus*  expires 2099-01-01",
		"  bob    -         -                -                              (any)                            -       disabled",
		"",
		"teams: 1",
		"  ID        CAP                            KEYS",
		"  research  $100/month $2/day (alert 90%)  1",
		"",
		"global cap: $1000.5/month $300/week",
		"",
		"aliases: 1",
		"  fast  -> amazon.nova-micro-v1:0",
		"",
		"priced models: " + strconv.Itoa(len(priced)) + " (1 set by the policy's pricing)",
		"",
	}, "\n")
	tests := []struct {
		name string
		args []string
		env  func(string) string
	}{
		{"argument", []string{"check", dir}, env()},
		{"flag", []string{"check", "-policies", dir}, env()},
		{"environment", []string{"check"}, env("TOLLGATE_POLICIES", dir)},
		{"argument wins", []string{"check", dir}, env("TOLLGATE_POLICIES", "/nowhere")},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var stdout, stderr strings.Builder
			if err := run(context.Background(), append([]string{"policy"}, tt.args...), tt.env, &stdout, &stderr); err != nil {
				t.Fatalf("policyCommand: %v\nstderr: %s", err, stderr.String())
			}
			if diff := cmp.Diff(want, stdout.String()); diff != "" {
				t.Errorf("stdout (-want +got):\n%s", diff)
			}
		})
	}
}

func TestPolicyCommandErrors(t *testing.T) {
	broken := policyDir(t, "keys:\n  - id: a\n    sha256: abc\n    team: nope\n")
	tests := []struct {
		name    string
		args    []string
		env     func(string) string
		wantErr string
	}{
		{"invalid policy", []string{"check", broken}, env(),
			"policy " + broken + " is not valid:\n" +
				filepath.Join(broken, "policy.yaml") + `:3: keys[0].sha256: key "a" needs the 64 hex digits of the secret's SHA-256 (tollgate key new prints them)` + "\n" +
				filepath.Join(broken, "policy.yaml") + `:4: keys[0].team: team "nope" is not defined: add it to a teams section`},
		{"missing directory", []string{"check", "/nowhere/policies"}, env(),
			"policy /nowhere/policies is not valid:\npolicy directory /nowhere/policies does not exist"},
		{"default directory", []string{"check"}, env(),
			"policy ./policies is not valid:\npolicy directory ./policies does not exist"},
		{"no subcommand", nil, env(), "policy: missing subcommand (check)"},
		{"unknown subcommand", []string{"lint"}, env(), `policy: unknown subcommand "lint" (want check)`},
		{"two directories", []string{"check", "a", "b"}, env(), "policy check: give one directory"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var stdout, stderr strings.Builder
			err := run(context.Background(), append([]string{"policy"}, tt.args...), tt.env, &stdout, &stderr)
			if err == nil {
				t.Fatalf("policyCommand succeeded:\n%s", stdout.String())
			}
			if diff := cmp.Diff(tt.wantErr, err.Error()); diff != "" {
				t.Errorf("error (-want +got):\n%s", diff)
			}
		})
	}
}

// TestPolicyCommandS3 checks a policy in s3rver, reached through the standard
// AWS configuration chain.
func TestPolicyCommandS3(t *testing.T) {
	endpoint := testsvc.S3(t)
	for name, value := range map[string]string{
		"AWS_ENDPOINT_URL_S3":              endpoint,
		"AWS_ACCESS_KEY_ID":                testsvc.S3Credentials,
		"AWS_SECRET_ACCESS_KEY":            testsvc.S3Credentials,
		"AWS_REGION":                       "us-east-1",
		"AWS_CONFIG_FILE":                  filepath.Join(t.TempDir(), "none"),
		"AWS_SHARED_CREDENTIALS_FILE":      filepath.Join(t.TempDir(), "none"),
		"AWS_REQUEST_CHECKSUM_CALCULATION": "when_required",
		"AWS_RESPONSE_CHECKSUM_VALIDATION": "when_required",
	} {
		t.Setenv(name, value)
	}
	ctx := context.Background()
	client := s3.New(s3.Options{
		Region: "us-east-1", BaseEndpoint: aws.String(endpoint), UsePathStyle: true,
		Credentials:                credentials.NewStaticCredentialsProvider(testsvc.S3Credentials, testsvc.S3Credentials, ""),
		RequestChecksumCalculation: aws.RequestChecksumCalculationWhenRequired,
	})
	if _, err := client.CreateBucket(ctx, &s3.CreateBucketInput{Bucket: aws.String("policies")}); err != nil {
		t.Fatal(err)
	}
	body := "keys:\n  - id: a\n    sha256: " + policy.HashSecret("a") + "\n"
	if _, err := client.PutObject(ctx, &s3.PutObjectInput{Bucket: aws.String("policies"), Key: aws.String("prod/keys.yaml"), Body: strings.NewReader(body)}); err != nil {
		t.Fatal(err)
	}
	var stdout, stderr strings.Builder
	if err := run(ctx, []string{"policy", "check", "s3://policies/prod/"}, os.Getenv, &stdout, &stderr); err != nil {
		t.Fatalf("policyCommand: %v", err)
	}
	if !strings.HasPrefix(stdout.String(), "policy s3://policies/prod/ is valid") || !strings.Contains(stdout.String(), "keys: 1\n") {
		t.Errorf("stdout:\n%s", stdout.String())
	}
}

// TestKeyCommandNew saves what `key new` prints, as it says, into the
// policy directory it was given, and checks that `policy check` accepts the
// result and the policy admits the secret under the key's id and team.
func TestKeyCommandNew(t *testing.T) {
	shipped, err := os.ReadFile("../../policies/example.yaml")
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name      string
		files     map[string]string // the policy directory before
		args      []string
		wantTeam  string
		wantTeams bool // a teams entry printed
	}{
		{"id only, no directory yet", nil, []string{"--id", "alice"}, "", false},
		{"the shipped directory, a new team", map[string]string{"example.yaml": string(shipped)},
			[]string{"-id", "bob", "--team", "research"}, "research", true},
		{"a team already defined", map[string]string{"teams.yaml": "teams:\n  - id: research\n    monthly_budget_usd: 5\n"},
			[]string{"--id", "carol", "--team", "research"}, "research", false},
	}
	secretLine := regexp.MustCompile(`(?m)^    (sk-tg-[0-9A-Za-z]+)$`)
	saveAs := regexp.MustCompile(`Save the lines below as (\S+) `)
	seen := map[string]bool{}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := filepath.Join(t.TempDir(), "policies")
			if tt.files != nil {
				if err := os.Mkdir(dir, 0o755); err != nil {
					t.Fatal(err)
				}
			}
			for name, content := range tt.files {
				if err := os.WriteFile(filepath.Join(dir, name), []byte(content), 0o644); err != nil {
					t.Fatal(err)
				}
			}
			var stdout, stderr strings.Builder
			args := append([]string{"key", "new"}, tt.args...)
			if err := run(context.Background(), args, env("TOLLGATE_POLICIES", dir), &stdout, &stderr); err != nil {
				t.Fatalf("key new: %v\nstderr: %s", err, stderr.String())
			}
			out := stdout.String()
			m := secretLine.FindStringSubmatch(out)
			if m == nil {
				t.Fatalf("no secret in:\n%s", out)
			}
			secret := m[1]
			if n := len(secret) - len("sk-tg-"); n < 32 {
				t.Errorf("secret has %d random characters, want at least 32", n)
			}
			if seen[secret] {
				t.Error("the same secret twice")
			}
			seen[secret] = true
			if strings.Count(out, secret) != 1 {
				t.Error("the secret is printed more than once")
			}
			if got := strings.Contains(out, "teams:"); got != tt.wantTeams {
				t.Errorf("teams entry printed: %v, want %v:\n%s", got, tt.wantTeams, out)
			}

			f := saveAs.FindStringSubmatch(out)
			if f == nil {
				t.Fatalf("no file name in:\n%s", out)
			}
			if want := filepath.Join(dir, tt.args[1]+".yaml"); f[1] != want {
				t.Errorf("save as %s, want %s", f[1], want)
			}
			_, file, _ := strings.Cut(out, "within seconds):\n\n")
			if err := os.MkdirAll(dir, 0o755); err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(f[1], []byte(file), 0o644); err != nil {
				t.Fatal(err)
			}
			stdout.Reset()
			if err := run(context.Background(), []string{"policy", "check", dir}, env(), &stdout, &stderr); err != nil {
				t.Fatalf("policy check of the saved file: %v\n%s", err, file)
			}
			p, err := policy.Load(dir)
			if err != nil {
				t.Fatal(err)
			}
			k, err := p.Authenticate(secret, time.Now())
			if err != nil {
				t.Fatalf("the printed hash does not accept the secret: %v", err)
			}
			if diff := cmp.Diff([2]string{tt.args[1], tt.wantTeam}, [2]string{k.ID, k.Team}); diff != "" {
				t.Errorf("key id and team (-want +got):\n%s", diff)
			}

			// The same id again is refused: the policy has it now.
			err = run(context.Background(), args, env("TOLLGATE_POLICIES", dir), io.Discard, io.Discard)
			if want := fmt.Sprintf("key new: %s already has a key %q: choose another --id", dir, tt.args[1]); err == nil || err.Error() != want {
				t.Errorf("the same id again: %v, want %q", err, want)
			}
		})
	}
}

func TestKeyCommandErrors(t *testing.T) {
	tests := []struct {
		name    string
		args    []string
		wantErr string
	}{
		{"no subcommand", nil, "key: missing subcommand (new)"},
		{"unknown subcommand", []string{"rotate"}, `key: unknown subcommand "rotate" (want new)`},
		{"no id", []string{"new"}, "key new: --id is required"},
		{"bad id", []string{"new", "--id", "a b"}, `key new: id "a b" must be 1-64 letters, digits, '.', '_' or '-'`},
		{"bad team", []string{"new", "--id", "a", "--team", "r&d"}, `key new: team "r&d" must be 1-64 letters, digits, '.', '_' or '-'`},
		{"extra argument", []string{"new", "--id", "a", "b"}, `key new: unexpected argument "b"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var stdout, stderr strings.Builder
			err := run(context.Background(), append([]string{"key"}, tt.args...), env("TOLLGATE_POLICIES", t.TempDir()), &stdout, &stderr)
			if err == nil || err.Error() != tt.wantErr {
				t.Errorf("keyCommand error = %v, want %q", err, tt.wantErr)
			}
			if stdout.Len() > 0 {
				t.Errorf("printed on failure:\n%s", stdout.String())
			}
		})
	}
}
