package policy_test

import (
	"errors"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/tollgate-gw/tollgate"
	"github.com/tollgate-gw/tollgate/internal/policy"
)

const (
	haiku   = "anthropic.claude-3-haiku-20240307-v1:0"
	usHaiku = "us.anthropic.claude-3-haiku-20240307-v1:0"
	opus    = "anthropic.claude-opus-4-1-20250805-v1:0"
	usOpus  = "us.anthropic.claude-opus-4-1-20250805-v1:0"
	micro   = "amazon.nova-micro-v1:0"
	appARN  = "arn:aws:bedrock:us-east-1:123456789012:application-inference-profile/abc123"
)

// routePolicy has a key of each shape Route has to decide for.
func routePolicy(t *testing.T) *policy.Policy {
	return parse(t, "p.yaml", `
keys:
  - id: open            # no allowlist, no caps
    sha256: `+policy.HashSecret("open")+`
  - id: haiku-only      # an allowlist by glob, and an alias name
    sha256: `+policy.HashSecret("haiku-only")+`
    models: ["anthropic.claude-3-haiku-*", "smart"]
  - id: no-opus         # everything but opus
    sha256: `+policy.HashSecret("no-opus")+`
    deny: ["*opus*"]
  - id: capped          # a budget: only priced models
    sha256: `+policy.HashSecret("capped")+`
    monthly_budget_usd: 10
  - id: team-capped     # its team's budget makes it capped too
    sha256: `+policy.HashSecret("team-capped")+`
    team: small
  - id: us-only-no-fast  # allows a profile glob; denies an alias by name
    sha256: `+policy.HashSecret("us-only-no-fast")+`
    models: ["us.*", "fast", "cheap"]
    deny: ["fast"]
teams:
  - id: small
    monthly_budget_usd: 50
aliases:
  fast: `+micro+`
  cheap: `+haiku+`
  smart: `+opus+`
  custom: my.model-v1:0
  app: `+appARN+`
`)
}

func TestPolicyRoute(t *testing.T) {
	p := routePolicy(t)
	haikuPrice, _ := p.Price(haiku)
	opusPrice, _ := p.Price(opus)
	microPrice, _ := p.Price(micro)
	tests := []struct {
		key, model string
		want       policy.Route
		wantCode   string // error code, "" for none
	}{
		{"open", haiku, policy.Route{Requested: haiku, ModelID: haiku, Price: haikuPrice, Priced: true}, ""},
		{"open", "fast", policy.Route{Requested: "fast", ModelID: micro, Price: microPrice, Priced: true}, ""},
		{"open", "my.model-v1:0", policy.Route{Requested: "my.model-v1:0", ModelID: "my.model-v1:0"}, ""},
		{"open", appARN, policy.Route{Requested: appARN, ModelID: appARN}, ""},
		{"open", "", policy.Route{}, "model_not_allowed"},

		{"haiku-only", haiku, policy.Route{Requested: haiku, ModelID: haiku, Price: haikuPrice, Priced: true}, ""},
		{"haiku-only", "cheap", policy.Route{Requested: "cheap", ModelID: haiku, Price: haikuPrice, Priced: true}, ""}, // the resolved id matches
		{"haiku-only", "smart", policy.Route{Requested: "smart", ModelID: opus, Price: opusPrice, Priced: true}, ""},   // the alias name matches
		{"haiku-only", opus, policy.Route{}, "model_not_allowed"},                                                      // the alias, not the id, is allowed
		{"haiku-only", usHaiku, policy.Route{}, "model_not_allowed"},
		{"haiku-only", "fast", policy.Route{}, "model_not_allowed"},

		{"no-opus", haiku, policy.Route{Requested: haiku, ModelID: haiku, Price: haikuPrice, Priced: true}, ""},
		{"no-opus", opus, policy.Route{}, "model_not_allowed"},
		{"no-opus", usOpus, policy.Route{}, "model_not_allowed"},
		{"no-opus", "smart", policy.Route{}, "model_not_allowed"}, // deny matches the resolved id

		{"capped", haiku, policy.Route{Requested: haiku, ModelID: haiku, Price: haikuPrice, Priced: true}, ""},
		{"capped", usHaiku, policy.Route{Requested: usHaiku, ModelID: usHaiku, Price: haikuPrice, Priced: true}, ""},
		{"capped", "my.model-v1:0", policy.Route{}, "model_not_priced"},
		{"capped", "custom", policy.Route{}, "model_not_priced"},
		{"capped", appARN, policy.Route{}, "model_not_priced"},
		{"team-capped", "app", policy.Route{}, "model_not_priced"},
		{"team-capped", "fast", policy.Route{Requested: "fast", ModelID: micro, Price: microPrice, Priced: true}, ""},

		{"us-only-no-fast", usOpus, policy.Route{Requested: usOpus, ModelID: usOpus, Price: opusPrice, Priced: true}, ""},
		{"us-only-no-fast", "cheap", policy.Route{Requested: "cheap", ModelID: haiku, Price: haikuPrice, Priced: true}, ""},
		{"us-only-no-fast", "fast", policy.Route{}, "model_not_allowed"}, // deny wins over models
		{"us-only-no-fast", haiku, policy.Route{}, "model_not_allowed"},
	}
	for _, tt := range tests {
		t.Run(tt.key+"/"+tt.model, func(t *testing.T) {
			k, _ := p.KeyByID(tt.key)
			got, err := p.Route(k, tt.model)
			gotCode := ""
			if err != nil {
				var te *tollgate.Error
				if !errors.As(err, &te) || te.Kind != tollgate.PermissionDenied || te.Param != "model" {
					t.Fatalf("error %#v is not PermissionDenied with param model", err)
				}
				gotCode = te.Code
				got = policy.Route{}
			}
			if gotCode != tt.wantCode {
				t.Fatalf("Route error = %v, want code %q", err, tt.wantCode)
			}
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("Route (-want +got):\n%s", diff)
			}
		})
	}
}

func TestPolicyRouteMessages(t *testing.T) {
	p := routePolicy(t)
	tests := []struct {
		key, model, want string
	}{
		{"haiku-only", opus, `Your API key is not allowed to use the model "anthropic.claude-opus-4-1-20250805-v1:0". Use one that GET /v1/models lists, or ask your Tollgate administrator to add it to the key's models.`},
		{"capped", "custom", `The model "custom" has no price, and your API key has a spending limit, so it cannot be charged. Use another model, or ask your Tollgate administrator to add a price for "my.model-v1:0" to the policy's pricing section.`},
	}
	for _, tt := range tests {
		k, _ := p.KeyByID(tt.key)
		_, err := p.Route(k, tt.model)
		var te *tollgate.Error
		if !errors.As(err, &te) {
			t.Fatalf("Route(%s, %s) error = %v", tt.key, tt.model, err)
		}
		if diff := cmp.Diff(tt.want, te.Message); diff != "" {
			t.Errorf("Route(%s, %s) message (-want +got):\n%s", tt.key, tt.model, diff)
		}
	}
}

func TestPolicyVisibleAndAliasesFor(t *testing.T) {
	p := routePolicy(t)
	listed := []string{haiku, usHaiku, opus, usOpus, micro, "my.model-v1:0", appARN}
	tests := []struct {
		key         string
		wantVisible []string
		wantAliases []string
	}{
		{"open", listed, []string{"app", "cheap", "custom", "fast", "smart"}},
		{"haiku-only", []string{haiku}, []string{"cheap", "smart"}},
		{"no-opus", []string{haiku, usHaiku, micro, "my.model-v1:0", appARN}, []string{"app", "cheap", "custom", "fast"}},
		{"capped", []string{haiku, usHaiku, opus, usOpus, micro}, []string{"cheap", "fast", "smart"}},
		{"us-only-no-fast", []string{usHaiku, usOpus}, []string{"cheap"}},
	}
	for _, tt := range tests {
		t.Run(tt.key, func(t *testing.T) {
			k, _ := p.KeyByID(tt.key)
			var visible []string
			for _, id := range listed {
				if p.Visible(k, id) {
					visible = append(visible, id)
				}
			}
			if diff := cmp.Diff(tt.wantVisible, visible); diff != "" {
				t.Errorf("Visible (-want +got):\n%s", diff)
			}
			if diff := cmp.Diff(tt.wantAliases, p.AliasesFor(k)); diff != "" {
				t.Errorf("AliasesFor (-want +got):\n%s", diff)
			}
		})
	}
}

func TestPolicyKeyAllows(t *testing.T) {
	p := routePolicy(t)
	k, _ := p.KeyByID("us-only-no-fast")
	if !k.Allows(usHaiku) || k.Allows(haiku) || k.Allows("fast") || !k.Restricted() {
		t.Error("Key.Allows does not apply models and deny")
	}
}
