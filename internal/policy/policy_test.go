package policy_test

import (
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/tollgate-gw/tollgate/internal/policy"
)

func TestMatch(t *testing.T) {
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

func TestParseAndAuthenticate(t *testing.T) {
	aliceHash := policy.HashSecret("alice-secret")
	p, err := policy.Parse(map[string][]byte{
		"a.yaml": []byte("keys:\n  - id: alice\n    sha256: \"" + strings.ToUpper(aliceHash) + "\"\n    models: [\"anthropic.*\"]\n"),
		"b.yml":  []byte("# only a comment\n"),
		"c.yml":  []byte("keys:\n  - id: bob\n    sha256: " + policy.HashSecret("bob-secret") + "\n"),
	})
	if err != nil {
		t.Fatal(err)
	}
	var ids []string
	for _, k := range p.Keys {
		ids = append(ids, k.ID)
	}
	if diff := cmp.Diff([]string{"alice", "bob"}, ids); diff != "" {
		t.Errorf("keys (-want +got):\n%s", diff)
	}
	tests := []struct {
		secret string
		wantID string
	}{
		{"alice-secret", "alice"},
		{"bob-secret", "bob"},
		{"alice-secret ", ""},
		{"", ""},
		{aliceHash, ""}, // the hash itself is not a secret that works
	}
	for _, tt := range tests {
		k, ok := p.Authenticate(tt.secret)
		got := ""
		if ok {
			got = k.ID
		}
		if got != tt.wantID {
			t.Errorf("Authenticate(%q) = %q, want %q", tt.secret, got, tt.wantID)
		}
	}
	alice, _ := p.KeyByID("alice")
	if !alice.Allows("anthropic.claude-3-haiku-20240307-v1:0") || alice.Allows("amazon.nova-lite-v1:0") {
		t.Error("alice's allowlist is not applied")
	}
	bob, _ := p.KeyByID("bob")
	if !bob.Allows("anything") || bob.Restricted() {
		t.Error("a key without models must allow every model")
	}
	if p.Version == "" {
		t.Error("no policy version")
	}
}

func TestParseErrors(t *testing.T) {
	h := policy.HashSecret("x")
	tests := []struct {
		name    string
		files   map[string][]byte
		wantErr string
	}{
		{"unknown field", map[string][]byte{"p.yaml": []byte("keys:\n  - id: a\n    sha256: " + h + "\n    modles: [x]\n")}, "p.yaml:4: unknown field modles"},
		{"bad hash", map[string][]byte{"p.yaml": []byte("keys:\n  - id: a\n    sha256: abc\n")}, "p.yaml:2: keys[0].sha256"},
		{"bad id", map[string][]byte{"p.yaml": []byte("keys:\n  - id: \"a b\"\n    sha256: " + h + "\n")}, "p.yaml:2: keys[0].id"},
		{"duplicate id across files", map[string][]byte{
			"a.yaml": []byte("keys:\n  - id: a\n    sha256: " + h + "\n"),
			"b.yaml": []byte("keys:\n  - id: a\n    sha256: " + policy.HashSecret("y") + "\n"),
		}, "b.yaml:2: keys[0].id: duplicate key id \"a\" (also in a.yaml)"},
		{"duplicate hash", map[string][]byte{"p.yaml": []byte("keys:\n  - id: a\n    sha256: " + h + "\n  - id: b\n    sha256: " + h + "\n")}, "same sha256"},
		{"empty model pattern", map[string][]byte{"p.yaml": []byte("keys:\n  - id: a\n    sha256: " + h + "\n    models: [\"\"]\n")}, "keys[0].models[0]"},
		{"not yaml", map[string][]byte{"p.yaml": []byte("keys: [\n")}, "p.yaml:"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := policy.Parse(tt.files)
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Errorf("Parse error = %v, want it to contain %q", err, tt.wantErr)
			}
		})
	}
}

func TestWithKey(t *testing.T) {
	p, err := policy.Parse(nil)
	if err != nil {
		t.Fatal(err)
	}
	p2, err := p.WithKey(policy.Key{ID: "demo", SHA256: policy.HashSecret("demo-secret")})
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := p2.Authenticate("demo-secret"); !ok {
		t.Error("added key not accepted")
	}
	if _, ok := p.Authenticate("demo-secret"); ok {
		t.Error("WithKey changed the original policy")
	}
	if _, err := p2.WithKey(policy.Key{ID: "demo", SHA256: policy.HashSecret("other")}); err == nil {
		t.Error("duplicate id accepted")
	}
}
