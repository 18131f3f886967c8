package anthropic

import (
	"encoding/json"
	"slices"
	"strings"
	"time"

	"github.com/tollgate-gw/tollgate/internal/modelid"
)

// claudeModel is a Claude model as Anthropic and Bedrock name it.
type claudeModel struct {
	names     []string // Anthropic's names: dated, undated and -latest
	bedrockID string   // the foundation model id
	profile   bool     // on-demand use needs an inference profile
}

// claudeModels is the documented table from Anthropic's model names to
// Bedrock ids (docs/anthropic-compat.md). Policy aliases take precedence.
var claudeModels = []claudeModel{
	{[]string{"claude-3-haiku-20240307"}, "anthropic.claude-3-haiku-20240307-v1:0", false},
	{[]string{"claude-3-5-haiku-20241022", "claude-3-5-haiku-latest", "claude-3-5-haiku"}, "anthropic.claude-3-5-haiku-20241022-v1:0", true},
	{[]string{"claude-3-5-sonnet-20241022", "claude-3-5-sonnet-latest", "claude-3-5-sonnet"}, "anthropic.claude-3-5-sonnet-20241022-v2:0", true},
	{[]string{"claude-3-7-sonnet-20250219", "claude-3-7-sonnet-latest", "claude-3-7-sonnet"}, "anthropic.claude-3-7-sonnet-20250219-v1:0", true},
	{[]string{"claude-sonnet-4-20250514", "claude-sonnet-4-0", "claude-sonnet-4"}, "anthropic.claude-sonnet-4-20250514-v1:0", true},
	{[]string{"claude-opus-4-20250514", "claude-opus-4-0", "claude-opus-4"}, "anthropic.claude-opus-4-20250514-v1:0", true},
	{[]string{"claude-opus-4-1-20250805", "claude-opus-4-1"}, "anthropic.claude-opus-4-1-20250805-v1:0", true},
	{[]string{"claude-sonnet-4-5-20250929", "claude-sonnet-4-5"}, "anthropic.claude-sonnet-4-5-20250929-v1:0", true},
	{[]string{"claude-haiku-4-5-20251001", "claude-haiku-4-5"}, "anthropic.claude-haiku-4-5-20251001-v1:0", true},
	{[]string{"claude-opus-4-5-20251101", "claude-opus-4-5"}, "anthropic.claude-opus-4-5-20251101-v1:0", true},
	{[]string{"claude-opus-4-6"}, "anthropic.claude-opus-4-6-v1", true},
	{[]string{"claude-sonnet-4-6"}, "anthropic.claude-sonnet-4-6", true},
	{[]string{"claude-opus-5-5"}, "anthropic.claude-opus-5-5", true},
	{[]string{"claude-sonnet-5-5"}, "anthropic.claude-sonnet-5-5", true},
	{[]string{"claude-haiku-5-5"}, "anthropic.claude-haiku-5-5", true},
	{[]string{"claude-opus-5"}, "anthropic.claude-opus-5", true},
	{[]string{"claude-sonnet-5"}, "anthropic.claude-sonnet-5", true},
	{[]string{"claude-opus-4-8"}, "anthropic.claude-opus-4-8", true},
	{[]string{"claude-opus-4-7"}, "anthropic.claude-opus-4-7", true},
	{[]string{"claude-fable-5"}, "anthropic.claude-fable-5", true},
	{[]string{"claude-fable-5-1"}, "anthropic.claude-fable-5-1", true},
	{[]string{"claude-fable-5-2"}, "anthropic.claude-fable-5-2", true},
}

// MatchModel finds the Bedrock id of an Anthropic model name the table
// does not know (a model newer than this gateway) among the ids Bedrock's
// catalog lists: the inference profile of geography geo, else the global
// profile, else the foundation model, whose id is "anthropic." and the name,
// followed by nothing or a version ("-v1", "-v1:0", ":0"). ok is false when
// none is listed.
func MatchModel(name, geo string, ids []string) (id string, ok bool) {
	for _, prefix := range []string{geo + ".anthropic.", "global.anthropic.", "anthropic."} {
		want := prefix + name
		for _, id := range ids {
			rest, found := strings.CutPrefix(id, want)
			if found && (rest == "" || strings.HasPrefix(rest, "-v") || strings.HasPrefix(rest, ":")) {
				return id, true
			}
		}
	}
	return "", false
}

// Geography returns the inference-profile prefix of an AWS region: "eu" for
// eu-*, "apac" for ap-*, "us" otherwise.
func Geography(region string) string {
	switch {
	case strings.HasPrefix(region, "eu-"):
		return "eu"
	case strings.HasPrefix(region, "ap-"):
		return "apac"
	default:
		return "us"
	}
}

// BedrockModel returns the Bedrock id for an Anthropic model name: the
// foundation model id, or its inference profile in geography geo ("us",
// "eu", "apac", "global") for the models Bedrock serves only through one.
// ok is false for a name the table does not know.
func BedrockModel(name, geo string) (id string, ok bool) {
	for _, m := range claudeModels {
		for _, n := range m.names {
			if n != name {
				continue
			}
			if m.profile {
				return geo + "." + m.bedrockID, true
			}
			return m.bedrockID, true
		}
	}
	return "", false
}

// FoundationModel returns the foundation model id behind a Bedrock id (a
// cross-region profile id or a model ARN; modelid.Base), and the id itself
// when it names none, such as an application inference profile ARN.
// Bedrock's CountTokens takes only foundation model ids.
func FoundationModel(id string) string {
	if base, ok := modelid.Base(id); ok {
		return base
	}
	return id
}

// IsClaude reports whether a Bedrock id names a Claude model, which takes
// the Messages body on InvokeModel. An application inference profile ARN
// must be resolved through the catalog first.
func IsClaude(id string) bool { return modelid.HasFamily(id, "anthropic.claude") }

// ModelName returns Anthropic's (dated) name of a Claude model that Bedrock
// names by id (a foundation id or a geography's profile id), and false for
// a model the table does not know.
func ModelName(bedrockID string) (string, bool) {
	base := FoundationModel(bedrockID)
	for _, m := range claudeModels {
		if m.bedrockID == base {
			return m.names[0], true
		}
	}
	return "", false
}

// ModelInfo is one entry of Anthropic's model list.
type ModelInfo struct {
	ID          string
	DisplayName string
	Created     time.Time
}

type modelInfoJSON struct {
	Type        string `json:"type"`
	ID          string `json:"id"`
	DisplayName string `json:"display_name"`
	CreatedAt   string `json:"created_at"`
}

type modelPage struct {
	Data    []modelInfoJSON `json:"data"`
	HasMore bool            `json:"has_more"`
	FirstID *string         `json:"first_id"`
	LastID  *string         `json:"last_id"`
}

// ModelList renders one page of Anthropic's model list (GET /v1/models with
// anthropic-version): the models after the one named afterID, or else the
// ones right before the one named beforeID (all when both are empty or
// name no model), at most limit of them (1 to 1000; 20 when 0), has_more
// (more in the direction paged: after the page, or before it for
// beforeID), first_id and last_id.
func ModelList(models []ModelInfo, afterID, beforeID string, limit int) []byte {
	if limit <= 0 {
		limit = 20
	}
	limit = min(limit, 1000)
	before := false
	switch {
	case afterID != "":
		if i := slices.IndexFunc(models, func(m ModelInfo) bool { return m.ID == afterID }); i >= 0 {
			models = models[i+1:]
		}
	case beforeID != "":
		if i := slices.IndexFunc(models, func(m ModelInfo) bool { return m.ID == beforeID }); i >= 0 {
			models, before = models[:i], true
		}
	}
	page := modelPage{Data: make([]modelInfoJSON, 0, min(len(models), limit))}
	if len(models) > limit {
		if before {
			models = models[len(models)-limit:]
		} else {
			models = models[:limit]
		}
		page.HasMore = true
	}
	for _, m := range models {
		created := m.Created
		if created.IsZero() {
			created = time.Unix(0, 0)
		}
		name := m.DisplayName
		if name == "" {
			name = m.ID
		}
		page.Data = append(page.Data, modelInfoJSON{Type: "model", ID: m.ID, DisplayName: name, CreatedAt: created.UTC().Format(time.RFC3339)})
	}
	if n := len(page.Data); n > 0 {
		page.FirstID, page.LastID = &page.Data[0].ID, &page.Data[n-1].ID
	}
	body, _ := json.Marshal(page) // strings and bools always encode
	return body
}
