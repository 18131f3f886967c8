package bedrocksim

import (
	"encoding/base64"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"
)

// Pagination of ListInferenceProfiles: the page size when maxResults is
// absent, and its bounds.
const (
	defaultPageSize = 50
	maxPageSize     = 1000
)

type foundationModelSummary struct {
	ModelArn                   string    `json:"modelArn"`
	ModelID                    string    `json:"modelId"`
	ModelName                  string    `json:"modelName"`
	ProviderName               string    `json:"providerName"`
	InputModalities            []string  `json:"inputModalities"`
	OutputModalities           []string  `json:"outputModalities"`
	ResponseStreamingSupported bool      `json:"responseStreamingSupported"`
	CustomizationsSupported    []string  `json:"customizationsSupported"`
	InferenceTypesSupported    []string  `json:"inferenceTypesSupported"`
	ModelLifecycle             lifecycle `json:"modelLifecycle"`
}

type lifecycle struct {
	Status string `json:"status"`
}

func summarizeModel(m Model, region string) foundationModelSummary {
	return foundationModelSummary{
		ModelArn:                   m.ARN(region),
		ModelID:                    m.ID,
		ModelName:                  m.Name,
		ProviderName:               m.Provider,
		InputModalities:            nonNil(m.InputModalities),
		OutputModalities:           nonNil(m.OutputModalities),
		ResponseStreamingSupported: m.Streaming,
		CustomizationsSupported:    nonNil(m.Customizations),
		InferenceTypesSupported:    nonNil(m.InferenceTypes),
		ModelLifecycle:             lifecycle{Status: m.Lifecycle},
	}
}

func nonNil(s []string) []string {
	if s == nil {
		return []string{}
	}
	return s
}

// serveListFoundationModels answers GET /foundation-models with the filters
// byProvider (case-insensitive), byOutputModality, byInferenceType and
// byCustomizationType.
func (s *Server) serveListFoundationModels(w http.ResponseWriter, r *http.Request, region string) {
	q := r.URL.Query()
	for _, f := range []struct {
		param string
		allow []string
	}{
		{"byOutputModality", []string{ModalityText, ModalityImage, ModalityEmbedding}},
		{"byInferenceType", []string{InferenceOnDemand, InferenceProvisioned}},
		{"byCustomizationType", []string{"FINE_TUNING", "CONTINUED_PRE_TRAINING", "DISTILLATION"}},
	} {
		if v := q.Get(f.param); v != "" && !slices.Contains(f.allow, v) {
			s.fail(w, constraintError(v, f.param, "Member must satisfy enum value set: ["+strings.Join(f.allow, ", ")+"]"))
			return
		}
	}
	out := []foundationModelSummary{}
	for _, m := range models() {
		if p := q.Get("byProvider"); p != "" && !strings.EqualFold(p, m.Provider) {
			continue
		}
		if v := q.Get("byOutputModality"); v != "" && !slices.Contains(m.OutputModalities, v) {
			continue
		}
		if v := q.Get("byInferenceType"); v != "" && !slices.Contains(m.InferenceTypes, v) {
			continue
		}
		if v := q.Get("byCustomizationType"); v != "" && !slices.Contains(m.Customizations, v) {
			continue
		}
		out = append(out, summarizeModel(m, region))
	}
	writeJSON(w, map[string]any{"modelSummaries": out})
}

// serveGetFoundationModel answers GET /foundation-models/{modelIdentifier}
// (a model id or foundation-model ARN).
func (s *Server) serveGetFoundationModel(w http.ResponseWriter, r *http.Request, id, region string) {
	if _, rest, ok := strings.Cut(id, "::foundation-model/"); ok && strings.HasPrefix(id, "arn:") {
		id = rest
	}
	m, ok := findModel(id)
	if !ok {
		s.fail(w, &apiError{status: http.StatusNotFound, code: "ResourceNotFoundException", message: "Could not resolve the foundation model from the provided model identifier."})
		return
	}
	writeJSON(w, map[string]any{"modelDetails": summarizeModel(m, region)})
}

type inferenceProfileSummary struct {
	InferenceProfileName string         `json:"inferenceProfileName"`
	InferenceProfileID   string         `json:"inferenceProfileId"`
	InferenceProfileArn  string         `json:"inferenceProfileArn"`
	Description          string         `json:"description"`
	Models               []profileModel `json:"models"`
	Status               string         `json:"status"`
	Type                 string         `json:"type"`
	CreatedAt            string         `json:"createdAt"` // date-time, as the SDK parses it
	UpdatedAt            string         `json:"updatedAt"`
}

type profileModel struct {
	ModelArn string `json:"modelArn"`
}

func timestamp(t time.Time) string { return t.UTC().Format(time.RFC3339) }

func summarizeProfile(p InferenceProfile, region string) inferenceProfileSummary {
	var ms []profileModel
	for _, arn := range p.modelARNs(region) {
		ms = append(ms, profileModel{ModelArn: arn})
	}
	return inferenceProfileSummary{
		InferenceProfileName: p.Name,
		InferenceProfileID:   p.ID,
		InferenceProfileArn:  p.ARN(region),
		Description:          p.Description,
		Models:               ms,
		Status:               "ACTIVE",
		Type:                 p.Type,
		CreatedAt:            timestamp(p.Created),
		UpdatedAt:            timestamp(p.Updated),
	}
}

// serveListInferenceProfiles answers GET /inference-profiles: the profiles
// usable from region, filtered by type (the SDK's TypeEquals) and paginated
// by maxResults and nextToken.
func (s *Server) serveListInferenceProfiles(w http.ResponseWriter, r *http.Request, region string) {
	q := r.URL.Query()
	typ := q.Get("type")
	if typ != "" && typ != ProfileSystemDefined && typ != ProfileApplication {
		s.fail(w, constraintError(typ, "typeEquals", "Member must satisfy enum value set: [SYSTEM_DEFINED, APPLICATION]"))
		return
	}
	size := defaultPageSize
	if v := q.Get("maxResults"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 || n > maxPageSize {
			s.fail(w, constraintError(v, "maxResults", "Member must have value between 1 and "+strconv.Itoa(maxPageSize)))
			return
		}
		size = n
	}
	var all []InferenceProfile
	for _, p := range profiles() {
		if p.availableIn(region) && (typ == "" || p.Type == typ) {
			all = append(all, p)
		}
	}
	offset := 0
	if tok := q.Get("nextToken"); tok != "" {
		var ok bool
		if offset, ok = decodePageToken(tok); !ok || offset > len(all) {
			s.fail(w, validationError("The provided pagination token is invalid."))
			return
		}
	}
	end := min(offset+size, len(all))
	page := []inferenceProfileSummary{}
	for _, p := range all[offset:end] {
		page = append(page, summarizeProfile(p, region))
	}
	resp := map[string]any{"inferenceProfileSummaries": page}
	if end < len(all) {
		resp["nextToken"] = encodePageToken(end)
	}
	writeJSON(w, resp)
}

// serveGetInferenceProfile answers GET /inference-profiles/{id or ARN}.
func (s *Server) serveGetInferenceProfile(w http.ResponseWriter, r *http.Request, id, region string) {
	for _, p := range profiles() {
		if (p.ID == id || p.ARN(region) == id) && p.availableIn(region) {
			writeJSON(w, summarizeProfile(p, region))
			return
		}
	}
	s.fail(w, &apiError{status: http.StatusNotFound, code: "ResourceNotFoundException", message: "Inference profile " + id + " not found."})
}

// Page tokens are opaque to clients; they encode the offset of the next page.
func encodePageToken(offset int) string {
	return base64.RawURLEncoding.EncodeToString([]byte("offset:" + strconv.Itoa(offset)))
}

func decodePageToken(tok string) (int, bool) {
	b, err := base64.RawURLEncoding.DecodeString(tok)
	if err != nil {
		return 0, false
	}
	v, ok := strings.CutPrefix(string(b), "offset:")
	if !ok {
		return 0, false
	}
	n, err := strconv.Atoi(v)
	return n, err == nil && n >= 0
}
