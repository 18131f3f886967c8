package bedrocksim

import (
	"slices"
	"strings"
	"sync"
	"time"
)

// Account is the AWS account id that owns every simulated ARN that carries one
// (inference profiles, application inference profiles).
const Account = "123456789012"

// DefaultRegion is the region assumed when a request's SigV4 credential scope
// names none (for example a bearer token instead of a signature).
const DefaultRegion = "us-east-1"

// Model lifecycle states, as ListFoundationModels reports them.
const (
	LifecycleActive = "ACTIVE"
	LifecycleLegacy = "LEGACY"
)

// Inference types, as ListFoundationModels reports them. Models whose
// on-demand use needs an inference profile report only InferenceProfile, as
// Bedrock does.
const (
	InferenceOnDemand    = "ON_DEMAND"
	InferenceProvisioned = "PROVISIONED"
	InferenceProfileOnly = "INFERENCE_PROFILE"
)

// Modalities, as ListFoundationModels reports them.
const (
	ModalityText      = "TEXT"
	ModalityImage     = "IMAGE"
	ModalityEmbedding = "EMBEDDING"
)

// Model is one simulated foundation model: what the control plane lists and
// the limits the runtime enforces. Models returns copies; changing one does not
// change the simulator.
type Model struct {
	ID               string   // e.g. "anthropic.claude-3-haiku-20240307-v1:0"
	Name             string   // e.g. "Claude 3 Haiku"; also names the model in replies
	Provider         string   // e.g. "Anthropic"
	InputModalities  []string // ModalityText, ModalityImage
	OutputModalities []string // ModalityText, ModalityImage or ModalityEmbedding
	Streaming        bool     // responseStreamingSupported; ConverseStream fails without it
	Lifecycle        string   // LifecycleActive or LifecycleLegacy
	Customizations   []string // FINE_TUNING, DISTILLATION, CONTINUED_PRE_TRAINING
	InferenceTypes   []string // InferenceOnDemand, InferenceProvisioned or InferenceProfileOnly

	MaxOutputTokens   int  // inferenceConfig.maxTokens above this is a ValidationException
	System            bool // accepts system prompts
	Images            bool // accepts image content blocks
	Tools             bool // accepts toolConfig on Converse
	StreamingTools    bool // accepts toolConfig on ConverseStream
	ExclusiveSampling bool // rejects temperature and topP in the same request
	Reasoning         bool // accepts additionalModelRequestFields.thinking (Claude extended thinking)
	CacheMinTokens    int  // smallest prefix a cachePoint caches; 0 = no prompt caching
	StructuredOutput  bool // accepts outputConfig.textFormat (a JSON schema)
	Effort            bool // accepts outputConfig.effort, and output_config on InvokeModel without the effort beta (generally available)
	AdaptiveThinking  bool // accepts thinking {"type":"adaptive"}: Claude sets its own budget
	SystemMessages    bool // accepts messages with role "system" on InvokeModel: instructions in the middle of a conversation
}

// ProfileOnly reports whether on-demand invocation of the bare model id is
// refused and an inference profile is required.
func (m Model) ProfileOnly() bool {
	return slices.Contains(m.InferenceTypes, InferenceProfileOnly) && !slices.Contains(m.InferenceTypes, InferenceOnDemand)
}

// Conversational reports whether the Converse API serves the model.
func (m Model) Conversational() bool {
	return slices.Contains(m.OutputModalities, ModalityText)
}

// ARN returns the model's foundation-model ARN in region.
func (m Model) ARN(region string) string {
	return "arn:aws:bedrock:" + region + "::foundation-model/" + m.ID
}

func (m Model) clone() Model {
	m.InputModalities = slices.Clone(m.InputModalities)
	m.OutputModalities = slices.Clone(m.OutputModalities)
	m.Customizations = slices.Clone(m.Customizations)
	m.InferenceTypes = slices.Clone(m.InferenceTypes)
	return m
}

// Inference profile types, as ListInferenceProfiles reports them.
const (
	ProfileSystemDefined = "SYSTEM_DEFINED"
	ProfileApplication   = "APPLICATION"
)

// InferenceProfile is one simulated inference profile. A system-defined
// profile's ID is its geography prefix ("us", "eu", "apac", "global") and a
// dot before the model id; it is usable only from a region of its geography
// (global from any region). The application profile lives in DefaultRegion.
type InferenceProfile struct {
	ID          string // "us.anthropic.claude-sonnet-4-20250514-v1:0" or "abc123"
	Name        string
	Description string
	Type        string // ProfileSystemDefined or ProfileApplication
	ModelID     string // the foundation model it routes to
	Created     time.Time
	Updated     time.Time
}

// Geography returns the profile's geography prefix, or "" for an
// application profile.
func (p InferenceProfile) Geography() string {
	if p.Type == ProfileApplication {
		return ""
	}
	geo, _, _ := strings.Cut(p.ID, ".")
	return geo
}

// ARN returns the profile's ARN when seen from region.
func (p InferenceProfile) ARN(region string) string {
	if p.Type == ProfileApplication {
		return "arn:aws:bedrock:" + DefaultRegion + ":" + Account + ":application-inference-profile/" + p.ID
	}
	return "arn:aws:bedrock:" + region + ":" + Account + ":inference-profile/" + p.ID
}

// availableIn reports whether the profile can be used and listed from region.
func (p InferenceProfile) availableIn(region string) bool {
	if p.Type == ProfileApplication {
		return region == DefaultRegion
	}
	geo := p.Geography()
	return geo == "global" || geo == geographyOf(region)
}

// modelARNs lists the foundation-model ARNs the profile routes to, as Bedrock
// lists them: one per region of the geography; a global profile adds the
// region-less ARN.
func (p InferenceProfile) modelARNs(region string) []string {
	var regions []string
	switch p.Geography() {
	case "":
		regions = []string{DefaultRegion}
	case "global":
		regions = []string{region, ""}
	default:
		regions = geographies[p.Geography()]
	}
	arns := make([]string, len(regions))
	for i, r := range regions {
		arns[i] = Model{ID: p.ModelID}.ARN(r)
	}
	return arns
}

// geographies lists the regions each cross-region inference profile prefix
// routes between.
var geographies = map[string][]string{
	"us":   {"us-east-1", "us-east-2", "us-west-2"},
	"eu":   {"eu-central-1", "eu-west-1", "eu-west-3"},
	"apac": {"ap-northeast-1", "ap-south-1", "ap-southeast-1", "ap-southeast-2"},
}

// geographyOf returns the profile prefix for region: us-* → "us", eu-* →
// "eu", ap-* → "apac". Unknown regions count as "us".
func geographyOf(region string) string {
	switch {
	case strings.HasPrefix(region, "eu-"):
		return "eu"
	case strings.HasPrefix(region, "ap-"):
		return "apac"
	default:
		return "us"
	}
}

var (
	textOnly      = []string{ModalityText}
	textAndImage  = []string{ModalityText, ModalityImage}
	onDemand      = []string{InferenceOnDemand}
	profileOnly   = []string{InferenceProfileOnly}
	fineTuning    = []string{"FINE_TUNING"}
	tuneOrDistill = []string{"FINE_TUNING", "DISTILLATION"}
)

// models returns the simulated catalog, in the order ListFoundationModels
// returns it. Limits follow Bedrock's documentation for each model as of
// 2025. It is built on first use, not at every start of the binary (a
// gateway without -sim never needs it).
var models = sync.OnceValue(func() []Model {
	return []Model{
		{ID: "anthropic.claude-3-haiku-20240307-v1:0", Name: "Claude 3 Haiku", Provider: "Anthropic",
			InputModalities: textAndImage, OutputModalities: textOnly, Streaming: true, Lifecycle: LifecycleActive,
			Customizations: fineTuning, InferenceTypes: []string{InferenceOnDemand, InferenceProvisioned},
			MaxOutputTokens: 4096, System: true, Images: true, Tools: true, StreamingTools: true},
		{ID: "anthropic.claude-3-5-haiku-20241022-v1:0", Name: "Claude 3.5 Haiku", Provider: "Anthropic",
			InputModalities: textOnly, OutputModalities: textOnly, Streaming: true, Lifecycle: LifecycleActive,
			InferenceTypes: profileOnly, MaxOutputTokens: 8192, System: true, Tools: true, StreamingTools: true,
			CacheMinTokens: 2048},
		{ID: "anthropic.claude-3-5-sonnet-20241022-v2:0", Name: "Claude 3.5 Sonnet v2", Provider: "Anthropic",
			InputModalities: textAndImage, OutputModalities: textOnly, Streaming: true, Lifecycle: LifecycleActive,
			InferenceTypes: profileOnly, MaxOutputTokens: 8192, System: true, Images: true, Tools: true,
			StreamingTools: true, CacheMinTokens: 1024},
		{ID: "anthropic.claude-3-7-sonnet-20250219-v1:0", Name: "Claude 3.7 Sonnet", Provider: "Anthropic",
			InputModalities: textAndImage, OutputModalities: textOnly, Streaming: true, Lifecycle: LifecycleActive,
			InferenceTypes: profileOnly, MaxOutputTokens: 64000, System: true, Images: true, Tools: true,
			StreamingTools: true, Reasoning: true, CacheMinTokens: 1024},
		{ID: "anthropic.claude-sonnet-4-20250514-v1:0", Name: "Claude Sonnet 4", Provider: "Anthropic",
			InputModalities: textAndImage, OutputModalities: textOnly, Streaming: true, Lifecycle: LifecycleActive,
			InferenceTypes: profileOnly, MaxOutputTokens: 64000, System: true, Images: true, Tools: true,
			StreamingTools: true, Reasoning: true, CacheMinTokens: 1024},
		{ID: "anthropic.claude-sonnet-4-5-20250929-v1:0", Name: "Claude Sonnet 4.5", Provider: "Anthropic",
			InputModalities: textAndImage, OutputModalities: textOnly, Streaming: true, Lifecycle: LifecycleActive,
			InferenceTypes: profileOnly, MaxOutputTokens: 64000, System: true, Images: true, Tools: true,
			StreamingTools: true, ExclusiveSampling: true, Reasoning: true, CacheMinTokens: 1024, StructuredOutput: true},
		{ID: "anthropic.claude-haiku-4-5-20251001-v1:0", Name: "Claude Haiku 4.5", Provider: "Anthropic",
			InputModalities: textAndImage, OutputModalities: textOnly, Streaming: true, Lifecycle: LifecycleActive,
			InferenceTypes: profileOnly, MaxOutputTokens: 64000, System: true, Images: true, Tools: true,
			StreamingTools: true, ExclusiveSampling: true, Reasoning: true, CacheMinTokens: 4096, StructuredOutput: true},
		{ID: "anthropic.claude-opus-4-1-20250805-v1:0", Name: "Claude Opus 4.1", Provider: "Anthropic",
			InputModalities: textAndImage, OutputModalities: textOnly, Streaming: true, Lifecycle: LifecycleActive,
			InferenceTypes: profileOnly, MaxOutputTokens: 32000, System: true, Images: true, Tools: true,
			StreamingTools: true, ExclusiveSampling: true, Reasoning: true, CacheMinTokens: 1024},
		// The defaults of current Claude Code (Anthropic names claude-opus-4-6,
		// claude-sonnet-4-6; on Bedrock their us. and global. profiles), so
		// that `tollgate -sim` serves it with no model flag.
		{ID: "anthropic.claude-opus-4-5-20251101-v1:0", Name: "Claude Opus 4.5", Provider: "Anthropic",
			InputModalities: textAndImage, OutputModalities: textOnly, Streaming: true, Lifecycle: LifecycleActive,
			InferenceTypes: profileOnly, MaxOutputTokens: 64000, System: true, Images: true, Tools: true,
			StreamingTools: true, ExclusiveSampling: true, Reasoning: true, CacheMinTokens: 4096, StructuredOutput: true},
		{ID: "anthropic.claude-opus-4-6-v1", Name: "Claude Opus 4.6", Provider: "Anthropic",
			InputModalities: textAndImage, OutputModalities: textOnly, Streaming: true, Lifecycle: LifecycleActive,
			InferenceTypes: profileOnly, MaxOutputTokens: 128000, System: true, Images: true, Tools: true,
			StreamingTools: true, ExclusiveSampling: true, Reasoning: true, CacheMinTokens: 4096, StructuredOutput: true,
			Effort: true, AdaptiveThinking: true, SystemMessages: true},
		{ID: "anthropic.claude-sonnet-4-6", Name: "Claude Sonnet 4.6", Provider: "Anthropic",
			InputModalities: textAndImage, OutputModalities: textOnly, Streaming: true, Lifecycle: LifecycleActive,
			InferenceTypes: profileOnly, MaxOutputTokens: 64000, System: true, Images: true, Tools: true,
			StreamingTools: true, ExclusiveSampling: true, Reasoning: true, CacheMinTokens: 2048, StructuredOutput: true,
			Effort: true, AdaptiveThinking: true, SystemMessages: true},
		// The models of Claude Code 2.1.332's table that Bedrock serves, its
		// default (claude-opus-5-5) first. Their ids carry no version suffix.
		// Limits from that table: 128,000 output tokens at most.
		{ID: "anthropic.claude-opus-5-5", Name: "Claude Opus 5.5", Provider: "Anthropic",
			InputModalities: textAndImage, OutputModalities: textOnly, Streaming: true, Lifecycle: LifecycleActive,
			InferenceTypes: profileOnly, MaxOutputTokens: 128000, System: true, Images: true, Tools: true,
			StreamingTools: true, ExclusiveSampling: true, Reasoning: true, CacheMinTokens: 4096, StructuredOutput: true,
			Effort: true, AdaptiveThinking: true, SystemMessages: true},
		{ID: "anthropic.claude-sonnet-5-5", Name: "Claude Sonnet 5.5", Provider: "Anthropic",
			InputModalities: textAndImage, OutputModalities: textOnly, Streaming: true, Lifecycle: LifecycleActive,
			InferenceTypes: profileOnly, MaxOutputTokens: 128000, System: true, Images: true, Tools: true,
			StreamingTools: true, ExclusiveSampling: true, Reasoning: true, CacheMinTokens: 2048, StructuredOutput: true,
			Effort: true, AdaptiveThinking: true, SystemMessages: true},
		{ID: "anthropic.claude-haiku-5-5", Name: "Claude Haiku 5.5", Provider: "Anthropic",
			InputModalities: textAndImage, OutputModalities: textOnly, Streaming: true, Lifecycle: LifecycleActive,
			InferenceTypes: profileOnly, MaxOutputTokens: 128000, System: true, Images: true, Tools: true,
			StreamingTools: true, ExclusiveSampling: true, Reasoning: true, CacheMinTokens: 4096, StructuredOutput: true,
			Effort: true, AdaptiveThinking: true, SystemMessages: true},
		{ID: "anthropic.claude-opus-5", Name: "Claude Opus 5", Provider: "Anthropic",
			InputModalities: textAndImage, OutputModalities: textOnly, Streaming: true, Lifecycle: LifecycleActive,
			InferenceTypes: profileOnly, MaxOutputTokens: 128000, System: true, Images: true, Tools: true,
			StreamingTools: true, ExclusiveSampling: true, Reasoning: true, CacheMinTokens: 4096, StructuredOutput: true,
			Effort: true, AdaptiveThinking: true, SystemMessages: true},
		{ID: "anthropic.claude-sonnet-5", Name: "Claude Sonnet 5", Provider: "Anthropic",
			InputModalities: textAndImage, OutputModalities: textOnly, Streaming: true, Lifecycle: LifecycleActive,
			InferenceTypes: profileOnly, MaxOutputTokens: 128000, System: true, Images: true, Tools: true,
			StreamingTools: true, ExclusiveSampling: true, Reasoning: true, CacheMinTokens: 2048, StructuredOutput: true,
			Effort: true, AdaptiveThinking: true, SystemMessages: true},
		{ID: "anthropic.claude-opus-4-8", Name: "Claude Opus 4.8", Provider: "Anthropic",
			InputModalities: textAndImage, OutputModalities: textOnly, Streaming: true, Lifecycle: LifecycleActive,
			InferenceTypes: profileOnly, MaxOutputTokens: 128000, System: true, Images: true, Tools: true,
			StreamingTools: true, ExclusiveSampling: true, Reasoning: true, CacheMinTokens: 4096, StructuredOutput: true,
			Effort: true, AdaptiveThinking: true, SystemMessages: true},
		{ID: "anthropic.claude-opus-4-7", Name: "Claude Opus 4.7", Provider: "Anthropic",
			InputModalities: textAndImage, OutputModalities: textOnly, Streaming: true, Lifecycle: LifecycleActive,
			InferenceTypes: profileOnly, MaxOutputTokens: 128000, System: true, Images: true, Tools: true,
			StreamingTools: true, ExclusiveSampling: true, Reasoning: true, CacheMinTokens: 4096, StructuredOutput: true,
			Effort: true, AdaptiveThinking: true, SystemMessages: true},
		{ID: "anthropic.claude-fable-5", Name: "Claude Fable 5", Provider: "Anthropic",
			InputModalities: textAndImage, OutputModalities: textOnly, Streaming: true, Lifecycle: LifecycleActive,
			InferenceTypes: profileOnly, MaxOutputTokens: 128000, System: true, Images: true, Tools: true,
			StreamingTools: true, ExclusiveSampling: true, Reasoning: true, CacheMinTokens: 4096, StructuredOutput: true,
			Effort: true, AdaptiveThinking: true, SystemMessages: true},
		{ID: "anthropic.claude-fable-5-1", Name: "Claude Fable 5.1", Provider: "Anthropic",
			InputModalities: textAndImage, OutputModalities: textOnly, Streaming: true, Lifecycle: LifecycleActive,
			InferenceTypes: profileOnly, MaxOutputTokens: 128000, System: true, Images: true, Tools: true,
			StreamingTools: true, ExclusiveSampling: true, Reasoning: true, CacheMinTokens: 4096, StructuredOutput: true,
			Effort: true, AdaptiveThinking: true, SystemMessages: true},
		{ID: "anthropic.claude-fable-5-2", Name: "Claude Fable 5.2", Provider: "Anthropic",
			InputModalities: textAndImage, OutputModalities: textOnly, Streaming: true, Lifecycle: LifecycleActive,
			InferenceTypes: profileOnly, MaxOutputTokens: 128000, System: true, Images: true, Tools: true,
			StreamingTools: true, ExclusiveSampling: true, Reasoning: true, CacheMinTokens: 4096, StructuredOutput: true,
			Effort: true, AdaptiveThinking: true, SystemMessages: true},
		{ID: "anthropic.claude-v2:1", Name: "Claude", Provider: "Anthropic",
			InputModalities: textOnly, OutputModalities: textOnly, Streaming: true, Lifecycle: LifecycleLegacy,
			InferenceTypes: onDemand, MaxOutputTokens: 4096, System: true},
		{ID: "amazon.nova-micro-v1:0", Name: "Nova Micro", Provider: "Amazon",
			InputModalities: textOnly, OutputModalities: textOnly, Streaming: true, Lifecycle: LifecycleActive,
			Customizations: tuneOrDistill, InferenceTypes: onDemand, MaxOutputTokens: 10000, System: true,
			Tools: true, StreamingTools: true, CacheMinTokens: 1000},
		{ID: "amazon.nova-lite-v1:0", Name: "Nova Lite", Provider: "Amazon",
			InputModalities: textAndImage, OutputModalities: textOnly, Streaming: true, Lifecycle: LifecycleActive,
			Customizations: tuneOrDistill, InferenceTypes: onDemand, MaxOutputTokens: 10000, System: true,
			Images: true, Tools: true, StreamingTools: true, CacheMinTokens: 1000},
		{ID: "amazon.nova-pro-v1:0", Name: "Nova Pro", Provider: "Amazon",
			InputModalities: textAndImage, OutputModalities: textOnly, Streaming: true, Lifecycle: LifecycleActive,
			Customizations: tuneOrDistill, InferenceTypes: onDemand, MaxOutputTokens: 10000, System: true,
			Images: true, Tools: true, StreamingTools: true, CacheMinTokens: 1000},
		{ID: "meta.llama3-1-8b-instruct-v1:0", Name: "Llama 3.1 8B Instruct", Provider: "Meta",
			InputModalities: textOnly, OutputModalities: textOnly, Streaming: true, Lifecycle: LifecycleActive,
			Customizations: tuneOrDistill, InferenceTypes: onDemand, MaxOutputTokens: 2048, System: true,
			Tools: true},
		{ID: "meta.llama3-1-70b-instruct-v1:0", Name: "Llama 3.1 70B Instruct", Provider: "Meta",
			InputModalities: textOnly, OutputModalities: textOnly, Streaming: true, Lifecycle: LifecycleActive,
			Customizations: tuneOrDistill, InferenceTypes: onDemand, MaxOutputTokens: 2048, System: true,
			Tools: true},
		{ID: "mistral.mistral-large-2407-v1:0", Name: "Mistral Large (24.07)", Provider: "Mistral AI",
			InputModalities: textOnly, OutputModalities: textOnly, Streaming: true, Lifecycle: LifecycleActive,
			InferenceTypes: onDemand, MaxOutputTokens: 8192, System: true, Tools: true},
		{ID: "mistral.mistral-7b-instruct-v0:2", Name: "Mistral 7B Instruct", Provider: "Mistral AI",
			InputModalities: textOnly, OutputModalities: textOnly, Streaming: true, Lifecycle: LifecycleActive,
			InferenceTypes: onDemand, MaxOutputTokens: 8192},
		{ID: "openai.gpt-oss-120b-1:0", Name: "gpt-oss-120b", Provider: "OpenAI",
			InputModalities: textOnly, OutputModalities: textOnly, Lifecycle: LifecycleActive,
			InferenceTypes: onDemand, MaxOutputTokens: 32768, System: true, Tools: true},
		{ID: "amazon.titan-embed-text-v1", Name: "Titan Embeddings G1 - Text", Provider: "Amazon",
			InputModalities: textOnly, OutputModalities: []string{ModalityEmbedding}, Lifecycle: LifecycleActive,
			InferenceTypes: onDemand},
		{ID: "amazon.titan-embed-text-v2:0", Name: "Titan Text Embeddings V2", Provider: "Amazon",
			InputModalities: textOnly, OutputModalities: []string{ModalityEmbedding}, Lifecycle: LifecycleActive,
			InferenceTypes: onDemand},
		{ID: "cohere.embed-english-v3", Name: "Embed English", Provider: "Cohere",
			InputModalities: textOnly, OutputModalities: []string{ModalityEmbedding}, Lifecycle: LifecycleActive,
			InferenceTypes: onDemand},
		{ID: "cohere.embed-multilingual-v3", Name: "Embed Multilingual", Provider: "Cohere",
			InputModalities: textOnly, OutputModalities: []string{ModalityEmbedding}, Lifecycle: LifecycleActive,
			InferenceTypes: onDemand},
		{ID: "amazon.nova-canvas-v1:0", Name: "Nova Canvas", Provider: "Amazon",
			InputModalities: textAndImage, OutputModalities: []string{ModalityImage}, Lifecycle: LifecycleActive,
			Customizations: fineTuning, InferenceTypes: onDemand},
	}
})

// AppProfileARN is the ARN of the simulated application inference profile,
// which routes to Claude 3 Haiku.
const AppProfileARN = "arn:aws:bedrock:us-east-1:" + Account + ":application-inference-profile/abc123"

// profiles returns the simulated inference-profile catalog, in listing
// order, built on first use.
var profiles = sync.OnceValue(buildProfiles)

func buildProfiles() []InferenceProfile {
	day := func(y int, m time.Month, d int) time.Time { return time.Date(y, m, d, 0, 0, 0, 0, time.UTC) }
	systemDefined := []struct {
		geos    []string
		modelID string
		created time.Time
	}{
		{[]string{"us", "eu", "apac"}, "anthropic.claude-3-haiku-20240307-v1:0", day(2024, 8, 27)},
		{[]string{"us"}, "anthropic.claude-3-5-haiku-20241022-v1:0", day(2024, 11, 4)},
		{[]string{"us", "apac"}, "anthropic.claude-3-5-sonnet-20241022-v2:0", day(2024, 10, 22)},
		{[]string{"us", "eu", "apac"}, "anthropic.claude-3-7-sonnet-20250219-v1:0", day(2025, 2, 24)},
		{[]string{"us", "eu", "apac"}, "anthropic.claude-sonnet-4-20250514-v1:0", day(2025, 5, 22)},
		{[]string{"us", "eu", "global"}, "anthropic.claude-sonnet-4-5-20250929-v1:0", day(2025, 9, 29)},
		{[]string{"us", "eu", "global"}, "anthropic.claude-haiku-4-5-20251001-v1:0", day(2025, 10, 15)},
		{[]string{"us"}, "anthropic.claude-opus-4-1-20250805-v1:0", day(2025, 8, 5)},
		{[]string{"us", "eu", "global"}, "anthropic.claude-opus-4-5-20251101-v1:0", day(2025, 11, 24)},
		{[]string{"us", "eu", "global"}, "anthropic.claude-opus-4-6-v1", day(2026, 2, 5)},
		{[]string{"us", "eu", "global"}, "anthropic.claude-sonnet-4-6", day(2026, 2, 17)},
		// Claude Code 2.1.332's models; the dates are the simulator's own.
		{[]string{"us", "eu", "global"}, "anthropic.claude-opus-5-5", day(2026, 11, 1)},
		{[]string{"us", "eu", "global"}, "anthropic.claude-sonnet-5-5", day(2026, 11, 1)},
		{[]string{"us", "eu", "global"}, "anthropic.claude-haiku-5-5", day(2026, 11, 1)},
		{[]string{"us", "eu", "global"}, "anthropic.claude-opus-5", day(2026, 11, 1)},
		{[]string{"us", "eu", "global"}, "anthropic.claude-sonnet-5", day(2026, 11, 1)},
		{[]string{"us", "eu", "global"}, "anthropic.claude-opus-4-8", day(2026, 11, 1)},
		{[]string{"us", "eu", "global"}, "anthropic.claude-opus-4-7", day(2026, 11, 1)},
		{[]string{"us", "eu", "global"}, "anthropic.claude-fable-5", day(2026, 11, 1)},
		{[]string{"us", "eu", "global"}, "anthropic.claude-fable-5-1", day(2026, 11, 1)},
		{[]string{"us", "eu", "global"}, "anthropic.claude-fable-5-2", day(2026, 11, 1)},
		{[]string{"us", "eu", "apac"}, "amazon.nova-micro-v1:0", day(2024, 12, 3)},
		{[]string{"us", "eu", "apac"}, "amazon.nova-lite-v1:0", day(2024, 12, 3)},
		{[]string{"us", "eu", "apac"}, "amazon.nova-pro-v1:0", day(2024, 12, 3)},
		{[]string{"us"}, "meta.llama3-1-8b-instruct-v1:0", day(2024, 9, 25)},
		{[]string{"us"}, "meta.llama3-1-70b-instruct-v1:0", day(2024, 9, 25)},
	}
	geoNames := map[string]string{"us": "US", "eu": "EU", "apac": "APAC", "global": "Global"}
	var out []InferenceProfile
	for _, sd := range systemDefined {
		m, _ := findModel(sd.modelID)
		for _, geo := range sd.geos {
			name := geoNames[geo] + " " + m.Provider + " " + m.Name
			out = append(out, InferenceProfile{
				ID:          geo + "." + m.ID,
				Name:        name,
				Description: "Routes requests to " + m.Provider + " " + m.Name + " in " + geoNames[geo] + " regions.",
				Type:        ProfileSystemDefined,
				ModelID:     m.ID,
				Created:     sd.created,
				Updated:     sd.created,
			})
		}
	}
	return append(out, InferenceProfile{
		ID:          "abc123",
		Name:        "tollgate-claude-3-haiku",
		Description: "Application inference profile for Claude 3 Haiku, tagged for cost allocation.",
		Type:        ProfileApplication,
		ModelID:     "anthropic.claude-3-haiku-20240307-v1:0",
		Created:     day(2025, 1, 15),
		Updated:     day(2025, 1, 15),
	})
}

func findModel(id string) (Model, bool) {
	for _, m := range models() {
		if m.ID == id {
			return m, true
		}
	}
	return Model{}, false
}

func findProfile(id string) (InferenceProfile, bool) {
	for _, p := range profiles() {
		if p.ID == id {
			return p, true
		}
	}
	return InferenceProfile{}, false
}

// resolveModel maps the modelId of a runtime request, as the client sent it,
// to the model that answers it, applying Bedrock's rules: foundation ids and
// foundation-model ARNs, system-defined profile ids and ARNs (usable only in
// their geography), application profile ARNs; a profile-only model called by
// its bare id is refused.
func resolveModel(modelID, region string) (Model, *apiError) {
	invalid := validationError("The provided model identifier is invalid.")
	id := modelID
	if strings.HasPrefix(id, "arn:") {
		// arn:aws:bedrock:<region>:<account>:<resource-type>/<resource-id>
		parts := strings.SplitN(id, ":", 6)
		if len(parts) != 6 || parts[1] != "aws" || parts[2] != "bedrock" {
			return Model{}, invalid
		}
		kind, rid, ok := strings.Cut(parts[5], "/")
		if !ok {
			return Model{}, invalid
		}
		switch kind {
		case "foundation-model":
			id = rid
		case "inference-profile":
			if parts[3] != region || parts[4] != Account {
				return Model{}, invalid
			}
			id = rid
		case "application-inference-profile":
			p, ok := findProfile(rid)
			if !ok || p.Type != ProfileApplication || p.ARN(region) != modelID || !p.availableIn(region) {
				return Model{}, invalid
			}
			m, _ := findModel(p.ModelID)
			return m, nil
		default:
			return Model{}, invalid
		}
	}
	if p, ok := findProfile(id); ok && p.Type == ProfileSystemDefined {
		if !p.availableIn(region) {
			return Model{}, invalid
		}
		m, _ := findModel(p.ModelID)
		return m, nil
	}
	m, ok := findModel(id)
	if !ok {
		return Model{}, invalid
	}
	if !m.Conversational() {
		return Model{}, validationError("This action doesn't support the model that you provided. Try again with a supported text or chat model.")
	}
	if m.ProfileOnly() {
		return Model{}, validationError("Invocation of model ID " + m.ID + " with on-demand throughput isn't supported. Retry your request with the ID or ARN of an inference profile that contains this model.")
	}
	return m, nil
}
