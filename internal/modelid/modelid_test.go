package modelid_test

import (
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/tollgate-gw/tollgate/internal/modelid"
)

func TestBase(t *testing.T) {
	tests := []struct {
		name, id string
		base     string
		ok       bool
		provider string
		app      bool
	}{
		{"foundation id", "anthropic.claude-3-haiku-20240307-v1:0", "anthropic.claude-3-haiku-20240307-v1:0", true, "anthropic", false},
		{"us profile", "us.anthropic.claude-sonnet-4-5-20250929-v1:0", "anthropic.claude-sonnet-4-5-20250929-v1:0", true, "anthropic", false},
		{"global profile", "global.anthropic.claude-sonnet-4-5-20250929-v1:0", "anthropic.claude-sonnet-4-5-20250929-v1:0", true, "anthropic", false},
		{"us-gov profile", "us-gov.meta.llama3-8b-instruct-v1:0", "meta.llama3-8b-instruct-v1:0", true, "meta", false},
		{"apac profile", "apac.amazon.nova-pro-v1:0", "amazon.nova-pro-v1:0", true, "amazon", false},
		{"foundation ARN", "arn:aws:bedrock:us-east-1::foundation-model/amazon.nova-pro-v1:0", "amazon.nova-pro-v1:0", true, "amazon", false},
		{"profile ARN", "arn:aws:bedrock:us-east-1:123456789012:inference-profile/eu.amazon.nova-pro-v1:0", "amazon.nova-pro-v1:0", true, "amazon", false},
		{"application profile ARN", "arn:aws:bedrock:us-east-1:123456789012:application-inference-profile/abc123", "", false, "", true},
		{"other ARN", "arn:aws:bedrock:us-east-1:123456789012:provisioned-model/xyz", "", false, "", false},
		// An ARN holding another's resource further on is not read as it.
		{"application ARN holding a model ARN", "arn:aws:bedrock:us-east-1:123456789012:application-inference-profile/x:foundation-model/amazon.nova-micro-v1:0", "", false, "", false},
		{"router ARN holding a profile ARN", "arn:aws:bedrock:us-east-1:123456789012:prompt-router/r:inference-profile/us.amazon.nova-micro-v1:0", "", false, "", false},
		{"IAM ARN", "arn:aws:iam::123456789012:role/foundation-model/amazon.nova-micro-v1:0", "", false, "", false},
		{"application ARN with a path", "arn:aws:bedrock:us-east-1:123456789012:application-inference-profile//../x", "", false, "", false},
		{"GovCloud foundation ARN", "arn:aws-us-gov:bedrock:us-gov-west-1::foundation-model/amazon.nova-pro-v1:0", "amazon.nova-pro-v1:0", true, "amazon", false},
		{"empty profile", "us.", "", false, "", false},
		{"empty ARN model", "arn:aws:bedrock:us-east-1::foundation-model/", "", false, "", false},
		{"alias-like name", "cheap", "cheap", true, "", false},
		// Claude Code 2.1.332's models: ids with no version suffix.
		{"unversioned foundation id", "anthropic.claude-opus-5-5", "anthropic.claude-opus-5-5", true, "anthropic", false},
		{"unversioned us profile", "us.anthropic.claude-opus-5-5", "anthropic.claude-opus-5-5", true, "anthropic", false},
		{"unversioned global profile", "global.anthropic.claude-fable-5-2", "anthropic.claude-fable-5-2", true, "anthropic", false},
		{"unversioned profile ARN", "arn:aws:bedrock:us-east-1:123456789012:inference-profile/eu.anthropic.claude-sonnet-5", "anthropic.claude-sonnet-5", true, "anthropic", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			base, ok := modelid.Base(tt.id)
			got := []any{base, ok, modelid.Provider(tt.id), modelid.IsApplicationProfile(tt.id)}
			want := []any{tt.base, tt.ok, tt.provider, tt.app}
			if diff := cmp.Diff(want, got); diff != "" {
				t.Errorf("Base, Provider, IsApplicationProfile of %q (-want +got)\n%s", tt.id, diff)
			}
		})
	}
}

func TestUnwrapOneLevel(t *testing.T) {
	got, ok := modelid.Unwrap("arn:aws:bedrock:us-east-1:123456789012:inference-profile/us.anthropic.claude-3-haiku-20240307-v1:0")
	if !ok || got != "us.anthropic.claude-3-haiku-20240307-v1:0" {
		t.Errorf("Unwrap = %q, %v: want the profile id inside the ARN", got, ok)
	}
	if _, ok := modelid.Unwrap("anthropic.claude-3-haiku-20240307-v1:0"); ok {
		t.Error("a foundation model id unwraps to nothing")
	}
}

func TestHasFamily(t *testing.T) {
	tests := []struct {
		id, family string
		want       bool
	}{
		{"us.anthropic.claude-sonnet-4-5-20250929-v1:0", "anthropic.claude-sonnet-4-5", true},
		{"anthropic.claude-sonnet-4-20250514-v1:0", "anthropic.claude-sonnet-4-5", false},
		{"arn:aws:bedrock:us-east-1::foundation-model/amazon.nova-2-lite-v1:0", "amazon.nova-2-", true},
		{"arn:aws:bedrock:us-east-1:123456789012:application-inference-profile/anthropic.claude-sonnet-4-5", "anthropic.claude-sonnet-4-5", false},
		{"us.anthropic.claude-opus-5-5", "anthropic.claude-opus-5-5", true},
		{"anthropic.claude-opus-5-5", "anthropic.claude-opus-5-5", true},
		{"global.anthropic.claude-haiku-5-5", "anthropic.claude", true},
		{"us.anthropic.claude-opus-5", "anthropic.claude-opus-5-5", false},
		{"us.anthropic.claude-opus-4-8", "anthropic.claude-opus-4-6", false},
		// A family is a prefix: tables put opus-5-5 before opus-5.
		{"us.anthropic.claude-opus-5-5", "anthropic.claude-opus-5", true},
	}
	for _, tt := range tests {
		if got := modelid.HasFamily(tt.id, tt.family); got != tt.want {
			t.Errorf("HasFamily(%q, %q) = %v, want %v", tt.id, tt.family, got, tt.want)
		}
	}
}
