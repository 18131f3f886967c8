package bedrocksim_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/bedrock"
	"github.com/aws/aws-sdk-go-v2/service/bedrock/types"
	"github.com/google/go-cmp/cmp"

	"github.com/tollgate-gw/tollgate/internal/bedrocksim"
)

func TestListFoundationModels(t *testing.T) {
	s := startSim(t, bedrocksim.Options{})
	bc := s.control()
	tests := []struct {
		name string
		in   bedrock.ListFoundationModelsInput
		want []string
	}{
		{
			name: "embedding models",
			in:   bedrock.ListFoundationModelsInput{ByOutputModality: types.ModelModalityEmbedding},
			want: []string{"amazon.titan-embed-text-v1", "amazon.titan-embed-text-v2:0", "cohere.embed-english-v3", "cohere.embed-multilingual-v3"},
		},
		{
			name: "image models",
			in:   bedrock.ListFoundationModelsInput{ByOutputModality: types.ModelModalityImage},
			want: []string{"amazon.nova-canvas-v1:0"},
		},
		{
			name: "by provider, case-insensitive",
			in:   bedrock.ListFoundationModelsInput{ByProvider: aws.String("meta")},
			want: []string{"meta.llama3-1-8b-instruct-v1:0", "meta.llama3-1-70b-instruct-v1:0"},
		},
		{
			name: "on-demand Anthropic models leave out the profile-only ones",
			in:   bedrock.ListFoundationModelsInput{ByProvider: aws.String("Anthropic"), ByInferenceType: types.InferenceTypeOnDemand},
			want: []string{"anthropic.claude-3-haiku-20240307-v1:0", "anthropic.claude-v2:1"},
		},
		{
			name: "fine-tunable Amazon text models",
			in: bedrock.ListFoundationModelsInput{ByProvider: aws.String("Amazon"), ByOutputModality: types.ModelModalityText,
				ByCustomizationType: types.ModelCustomizationFineTuning},
			want: []string{"amazon.nova-micro-v1:0", "amazon.nova-lite-v1:0", "amazon.nova-pro-v1:0"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			out, err := bc.ListFoundationModels(context.Background(), &tt.in)
			if err != nil {
				t.Fatalf("ListFoundationModels: %v", err)
			}
			var got []string
			for _, m := range out.ModelSummaries {
				got = append(got, aws.ToString(m.ModelId))
			}
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("models (-want +got):\n%s", diff)
			}
		})
	}

	t.Run("summary fields", func(t *testing.T) {
		out, err := bc.ListFoundationModels(context.Background(), &bedrock.ListFoundationModelsInput{})
		if err != nil {
			t.Fatal(err)
		}
		type summary struct {
			ARN, Name, Provider string
			In, Out             []types.ModelModality
			Streaming           bool
			Types               []types.InferenceType
			Lifecycle           types.FoundationModelLifecycleStatus
		}
		got := map[string]summary{}
		for _, m := range out.ModelSummaries {
			got[aws.ToString(m.ModelId)] = summary{
				aws.ToString(m.ModelArn), aws.ToString(m.ModelName), aws.ToString(m.ProviderName),
				m.InputModalities, m.OutputModalities, aws.ToBool(m.ResponseStreamingSupported),
				m.InferenceTypesSupported, m.ModelLifecycle.Status,
			}
		}
		if len(got) != len(s.Models()) {
			t.Errorf("listed %d models, catalog has %d", len(got), len(s.Models()))
		}
		want := map[string]summary{
			"anthropic.claude-sonnet-4-5-20250929-v1:0": {
				"arn:aws:bedrock:us-east-1::foundation-model/anthropic.claude-sonnet-4-5-20250929-v1:0", "Claude Sonnet 4.5", "Anthropic",
				[]types.ModelModality{"TEXT", "IMAGE"}, []types.ModelModality{"TEXT"}, true, []types.InferenceType{"INFERENCE_PROFILE"}, "ACTIVE",
			},
			"anthropic.claude-v2:1": {
				"arn:aws:bedrock:us-east-1::foundation-model/anthropic.claude-v2:1", "Claude", "Anthropic",
				[]types.ModelModality{"TEXT"}, []types.ModelModality{"TEXT"}, true, []types.InferenceType{"ON_DEMAND"}, "LEGACY",
			},
			"openai.gpt-oss-120b-1:0": {
				"arn:aws:bedrock:us-east-1::foundation-model/openai.gpt-oss-120b-1:0", "gpt-oss-120b", "OpenAI",
				[]types.ModelModality{"TEXT"}, []types.ModelModality{"TEXT"}, false, []types.InferenceType{"ON_DEMAND"}, "ACTIVE",
			},
		}
		for id, w := range want {
			if diff := cmp.Diff(w, got[id]); diff != "" {
				t.Errorf("%s (-want +got):\n%s", id, diff)
			}
		}
	})

	t.Run("get one model", func(t *testing.T) {
		out, err := bc.GetFoundationModel(context.Background(), &bedrock.GetFoundationModelInput{ModelIdentifier: aws.String("amazon.nova-pro-v1:0")})
		if err != nil {
			t.Fatal(err)
		}
		if got := aws.ToString(out.ModelDetails.ModelName); got != "Nova Pro" {
			t.Errorf("model name = %q, want Nova Pro", got)
		}
		_, err = bc.GetFoundationModel(context.Background(), &bedrock.GetFoundationModelInput{ModelIdentifier: aws.String("nope")})
		var nf *types.ResourceNotFoundException
		if !errors.As(err, &nf) {
			t.Errorf("err = %v, want ResourceNotFoundException", err)
		}
	})

	t.Run("invalid filter", func(t *testing.T) {
		_, err := bc.ListFoundationModels(context.Background(), &bedrock.ListFoundationModelsInput{ByOutputModality: "SOUND"})
		var ve *types.ValidationException
		if !errors.As(err, &ve) {
			t.Errorf("err = %v, want ValidationException", err)
		}
	})
}

func TestListInferenceProfiles(t *testing.T) {
	s := startSim(t, bedrocksim.Options{})
	list := func(t *testing.T, region string, in *bedrock.ListInferenceProfilesInput) (ids []string, pages int) {
		t.Helper()
		p := bedrock.NewListInferenceProfilesPaginator(s.control(region), in)
		for p.HasMorePages() {
			out, err := p.NextPage(context.Background())
			if err != nil {
				t.Fatalf("NextPage: %v", err)
			}
			pages++
			for _, ps := range out.InferenceProfileSummaries {
				ids = append(ids, aws.ToString(ps.InferenceProfileId))
			}
		}
		return ids, pages
	}
	usSystem := []string{
		"us.anthropic.claude-3-haiku-20240307-v1:0",
		"us.anthropic.claude-3-5-haiku-20241022-v1:0",
		"us.anthropic.claude-3-5-sonnet-20241022-v2:0",
		"us.anthropic.claude-3-7-sonnet-20250219-v1:0",
		"us.anthropic.claude-sonnet-4-20250514-v1:0",
		"us.anthropic.claude-sonnet-4-5-20250929-v1:0",
		"global.anthropic.claude-sonnet-4-5-20250929-v1:0",
		"us.anthropic.claude-haiku-4-5-20251001-v1:0",
		"global.anthropic.claude-haiku-4-5-20251001-v1:0",
		"us.anthropic.claude-opus-4-1-20250805-v1:0",
		"us.anthropic.claude-opus-4-5-20251101-v1:0",
		"global.anthropic.claude-opus-4-5-20251101-v1:0",
		"us.anthropic.claude-opus-4-6-v1",
		"global.anthropic.claude-opus-4-6-v1",
		"us.anthropic.claude-sonnet-4-6",
		"global.anthropic.claude-sonnet-4-6",
		"us.anthropic.claude-opus-5-5",
		"global.anthropic.claude-opus-5-5",
		"us.anthropic.claude-sonnet-5-5",
		"global.anthropic.claude-sonnet-5-5",
		"us.anthropic.claude-haiku-5-5",
		"global.anthropic.claude-haiku-5-5",
		"us.anthropic.claude-opus-5",
		"global.anthropic.claude-opus-5",
		"us.anthropic.claude-sonnet-5",
		"global.anthropic.claude-sonnet-5",
		"us.anthropic.claude-opus-4-8",
		"global.anthropic.claude-opus-4-8",
		"us.anthropic.claude-opus-4-7",
		"global.anthropic.claude-opus-4-7",
		"us.anthropic.claude-fable-5",
		"global.anthropic.claude-fable-5",
		"us.anthropic.claude-fable-5-1",
		"global.anthropic.claude-fable-5-1",
		"us.anthropic.claude-fable-5-2",
		"global.anthropic.claude-fable-5-2",
		"us.amazon.nova-micro-v1:0",
		"us.amazon.nova-lite-v1:0",
		"us.amazon.nova-pro-v1:0",
		"us.meta.llama3-1-8b-instruct-v1:0",
		"us.meta.llama3-1-70b-instruct-v1:0",
	}
	tests := []struct {
		name      string
		region    string
		in        bedrock.ListInferenceProfilesInput
		want      []string
		wantPages int
	}{
		{"one default page", "us-east-1", bedrock.ListInferenceProfilesInput{}, append(usSystem, "abc123"), 1},
		{"pages of four", "us-east-1", bedrock.ListInferenceProfilesInput{MaxResults: aws.Int32(4)}, append(usSystem, "abc123"), 11},
		{"system-defined only", "us-east-1", bedrock.ListInferenceProfilesInput{TypeEquals: types.InferenceProfileTypeSystemDefined, MaxResults: aws.Int32(5)}, usSystem, 9},
		{"application only", "us-east-1", bedrock.ListInferenceProfilesInput{TypeEquals: types.InferenceProfileTypeApplication}, []string{"abc123"}, 1},
		{"eu region", "eu-central-1", bedrock.ListInferenceProfilesInput{MaxResults: aws.Int32(3)}, []string{
			"eu.anthropic.claude-3-haiku-20240307-v1:0",
			"eu.anthropic.claude-3-7-sonnet-20250219-v1:0",
			"eu.anthropic.claude-sonnet-4-20250514-v1:0",
			"eu.anthropic.claude-sonnet-4-5-20250929-v1:0",
			"global.anthropic.claude-sonnet-4-5-20250929-v1:0",
			"eu.anthropic.claude-haiku-4-5-20251001-v1:0",
			"global.anthropic.claude-haiku-4-5-20251001-v1:0",
			"eu.anthropic.claude-opus-4-5-20251101-v1:0",
			"global.anthropic.claude-opus-4-5-20251101-v1:0",
			"eu.anthropic.claude-opus-4-6-v1",
			"global.anthropic.claude-opus-4-6-v1",
			"eu.anthropic.claude-sonnet-4-6",
			"global.anthropic.claude-sonnet-4-6",
			"eu.anthropic.claude-opus-5-5",
			"global.anthropic.claude-opus-5-5",
			"eu.anthropic.claude-sonnet-5-5",
			"global.anthropic.claude-sonnet-5-5",
			"eu.anthropic.claude-haiku-5-5",
			"global.anthropic.claude-haiku-5-5",
			"eu.anthropic.claude-opus-5",
			"global.anthropic.claude-opus-5",
			"eu.anthropic.claude-sonnet-5",
			"global.anthropic.claude-sonnet-5",
			"eu.anthropic.claude-opus-4-8",
			"global.anthropic.claude-opus-4-8",
			"eu.anthropic.claude-opus-4-7",
			"global.anthropic.claude-opus-4-7",
			"eu.anthropic.claude-fable-5",
			"global.anthropic.claude-fable-5",
			"eu.anthropic.claude-fable-5-1",
			"global.anthropic.claude-fable-5-1",
			"eu.anthropic.claude-fable-5-2",
			"global.anthropic.claude-fable-5-2",
			"eu.amazon.nova-micro-v1:0",
			"eu.amazon.nova-lite-v1:0",
			"eu.amazon.nova-pro-v1:0",
		}, 12},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			in := tt.in
			ids, pages := list(t, tt.region, &in)
			if diff := cmp.Diff(tt.want, ids); diff != "" {
				t.Errorf("profiles (-want +got):\n%s", diff)
			}
			if pages != tt.wantPages {
				t.Errorf("pages = %d, want %d", pages, tt.wantPages)
			}
		})
	}

	t.Run("profile fields", func(t *testing.T) {
		out, err := s.control().GetInferenceProfile(context.Background(), &bedrock.GetInferenceProfileInput{
			InferenceProfileIdentifier: aws.String(bedrocksim.AppProfileARN),
		})
		if err != nil {
			t.Fatal(err)
		}
		type profile struct {
			ID, ARN, Name string
			Type          types.InferenceProfileType
			Status        types.InferenceProfileStatus
			Models        []string
			Created       time.Time
		}
		got := profile{
			aws.ToString(out.InferenceProfileId), aws.ToString(out.InferenceProfileArn), aws.ToString(out.InferenceProfileName),
			out.Type, out.Status, nil, aws.ToTime(out.CreatedAt),
		}
		for _, m := range out.Models {
			got.Models = append(got.Models, aws.ToString(m.ModelArn))
		}
		want := profile{
			"abc123", bedrocksim.AppProfileARN, "tollgate-claude-3-haiku", types.InferenceProfileTypeApplication, types.InferenceProfileStatusActive,
			[]string{"arn:aws:bedrock:us-east-1::foundation-model/anthropic.claude-3-haiku-20240307-v1:0"},
			time.Date(2025, 1, 15, 0, 0, 0, 0, time.UTC),
		}
		if diff := cmp.Diff(want, got); diff != "" {
			t.Errorf("profile (-want +got):\n%s", diff)
		}
	})
}

func TestStats(t *testing.T) {
	s := startSim(t, bedrocksim.Options{})
	rt := s.runtime()
	ctx := context.Background()
	if _, err := rt.Converse(ctx, converseInput(haiku, "Hello there")); err != nil { // 3 in, 16 out
		t.Fatal(err)
	}
	out, err := rt.ConverseStream(ctx, streamInput(converseInput(sonnet4, "Hello there"))) // 3 in, 16 out
	if err != nil {
		t.Fatal(err)
	}
	readStream(t, out)
	out, err = rt.ConverseStream(ctx, streamInput(converseInput(haiku, "Hi [sim:cut]"))) // 3 in, 14 out, billed
	if err != nil {
		t.Fatal(err)
	}
	readStream(t, out)
	_, _ = rt.Converse(ctx, converseInput(haiku, "Hi [sim:error=ThrottlingException]"))
	_, _ = rt.Converse(ctx, converseInput("nope", "Hi"))
	if _, err := s.control().ListFoundationModels(ctx, &bedrock.ListFoundationModelsInput{}); err != nil {
		t.Fatal(err)
	}

	want := bedrocksim.Stats{
		Requests: map[string]int{
			bedrocksim.OpConverse: 3, bedrocksim.OpConverseStream: 2, bedrocksim.OpListFoundationModels: 1,
		},
		Errors:       map[string]int{"ThrottlingException": 1, "ValidationException": 1},
		Invocations:  3,
		InputTokens:  9,
		OutputTokens: 46,
		ByModel: map[string]bedrocksim.Usage{
			haiku:   {InputTokens: 6, OutputTokens: 30, TotalTokens: 36},
			sonnet4: {InputTokens: 3, OutputTokens: 16, TotalTokens: 19},
		},
	}
	if diff := cmp.Diff(want, s.Stats()); diff != "" {
		t.Errorf("stats (-want +got):\n%s", diff)
	}
}
