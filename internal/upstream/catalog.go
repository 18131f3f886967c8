package upstream

import (
	"context"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/bedrock"
	"github.com/aws/aws-sdk-go-v2/service/bedrock/types"

	"github.com/tollgate-gw/tollgate/internal/modelid"
)

// Model is one entry of the catalog, as /v1/models shows it.
type Model struct {
	ID      string // foundation model id, inference profile id or ARN
	OwnedBy string // provider, lower case ("anthropic")
	Created int64  // Unix seconds; stable across refreshes (see [Catalog])
	Base    string // for an inference profile, the foundation model id it routes to; "" otherwise
}

// Catalog is the cached list of models a client can call: Bedrock's
// on-demand text models that stream (ACTIVE or LEGACY), the inference
// profiles (system-defined and application) whose models are such text
// models, and the on-demand embedding models. It is safe for concurrent use.
//
// The first Models call fetches the list; later calls return the cached
// list at once and, once it is older than the TTL, start one background
// refresh. A failed refresh keeps the last good list.
//
// A model's Created is its launch on Bedrock (the lifecycle's
// startOfLifeTime) or, for an inference profile, the profile's creation;
// when Bedrock gives neither, it is the first time this Catalog listed the
// model, kept across refreshes, so that /v1/models answers the same
// created on every call.
type Catalog struct {
	client *Client
	ttl    time.Duration
	now    func() time.Time
	base   context.Context // parent of background refreshes; cancelled at shutdown

	mu         sync.Mutex
	models     []Model
	fetched    time.Time
	firstSeen  map[string]int64 // model id -> Unix seconds, for models Bedrock gives no date
	loading    chan struct{}    // closed when the fetch in progress ends; nil when none
	refreshing bool
}

// NewCatalog returns a Catalog over client. ctx bounds background refreshes.
func NewCatalog(ctx context.Context, client *Client, ttl time.Duration, now func() time.Time) *Catalog {
	if now == nil {
		now = time.Now
	}
	return &Catalog{client: client, ttl: ttl, now: now, base: ctx}
}

// Models returns the catalog sorted by id. It blocks only while no list has
// ever been fetched.
func (c *Catalog) Models(ctx context.Context) ([]Model, error) {
	for {
		c.mu.Lock()
		if c.models != nil {
			models := c.models
			if !c.refreshing && c.now().Sub(c.fetched) >= c.ttl {
				c.refreshing = true
				go c.refresh()
			}
			c.mu.Unlock()
			return models, nil
		}
		if c.loading == nil {
			c.loading = make(chan struct{})
			c.mu.Unlock()
			models, err := c.fetch(ctx)
			c.mu.Lock()
			if err == nil {
				c.models, c.fetched = models, c.now()
			}
			close(c.loading)
			c.loading = nil
			c.mu.Unlock()
			if err != nil {
				return nil, MapError(err)
			}
			return models, nil
		}
		wait := c.loading
		c.mu.Unlock()
		select {
		case <-wait:
		case <-ctx.Done():
			return nil, MapError(ctx.Err())
		}
	}
}

// Lookup returns the catalog entry with the given id.
func (c *Catalog) Lookup(ctx context.Context, id string) (Model, bool, error) {
	models, err := c.Models(ctx)
	if err != nil {
		return Model{}, false, err
	}
	i, ok := slices.BinarySearchFunc(models, id, func(m Model, id string) int { return strings.Compare(m.ID, id) })
	if !ok {
		return Model{}, false, nil
	}
	return models[i], true, nil
}

func (c *Catalog) refresh() {
	ctx, cancel := context.WithTimeout(c.base, 30*time.Second)
	defer cancel()
	models, err := c.fetch(ctx)
	c.mu.Lock()
	defer c.mu.Unlock()
	c.refreshing = false
	if err == nil {
		c.models, c.fetched = models, c.now()
	} else {
		// Keep the last good list; try again after another TTL rather than
		// on every request.
		c.fetched = c.now()
	}
}

func (c *Catalog) fetch(ctx context.Context) ([]Model, error) {
	fm, err := c.client.control.ListFoundationModels(ctx, &bedrock.ListFoundationModelsInput{
		ByOutputModality: types.ModelModalityText,
	})
	if err != nil {
		return nil, err
	}
	text := map[string]string{} // text model id -> provider
	var models []Model
	for _, s := range fm.ModelSummaries {
		if !isChatModel(s) {
			continue
		}
		provider := strings.ToLower(aws.ToString(s.ProviderName))
		text[aws.ToString(s.ModelId)] = provider
		if slices.Contains(s.InferenceTypesSupported, types.InferenceTypeOnDemand) {
			models = append(models, Model{ID: aws.ToString(s.ModelId), OwnedBy: provider, Created: launched(s)})
		}
	}
	emb, err := c.embeddingModels(ctx)
	if err != nil {
		return nil, err
	}
	models = append(models, emb...)
	for _, kind := range []types.InferenceProfileType{types.InferenceProfileTypeSystemDefined, types.InferenceProfileTypeApplication} {
		pages := bedrock.NewListInferenceProfilesPaginator(c.client.control, &bedrock.ListInferenceProfilesInput{TypeEquals: kind})
		for pages.HasMorePages() {
			page, err := pages.NextPage(ctx)
			if err != nil {
				return nil, err
			}
			for _, p := range page.InferenceProfileSummaries {
				if m, ok := profileModel(p, text); ok {
					models = append(models, m)
				}
			}
		}
	}
	slices.SortFunc(models, func(a, b Model) int { return strings.Compare(a.ID, b.ID) })
	models = slices.CompactFunc(models, func(a, b Model) bool { return a.ID == b.ID })
	if models == nil {
		models = []Model{}
	}
	c.stamp(models)
	return models, nil
}

// launched returns the model's launch on Bedrock in Unix seconds, or 0 when
// Bedrock does not say.
func launched(s types.FoundationModelSummary) int64 {
	if lc := s.ModelLifecycle; lc != nil && lc.StartOfLifeTime != nil {
		return lc.StartOfLifeTime.Unix()
	}
	return 0
}

// stamp gives each model without a date the first time the catalog listed
// it.
func (c *Catalog) stamp(models []Model) {
	c.mu.Lock()
	defer c.mu.Unlock()
	now := c.now().Unix()
	for i := range models {
		if models[i].Created != 0 {
			continue
		}
		first, ok := c.firstSeen[models[i].ID]
		if !ok {
			if c.firstSeen == nil {
				c.firstSeen = map[string]int64{}
			}
			first = now
			c.firstSeen[models[i].ID] = first
		}
		models[i].Created = first
	}
}

func isChatModel(s types.FoundationModelSummary) bool {
	if !slices.Contains(s.OutputModalities, types.ModelModalityText) || !aws.ToBool(s.ResponseStreamingSupported) {
		return false
	}
	if s.ModelLifecycle == nil {
		return true
	}
	st := s.ModelLifecycle.Status
	return st == types.FoundationModelLifecycleStatusActive || st == types.FoundationModelLifecycleStatusLegacy
}

// profileModel turns an inference profile into a catalog entry when the
// profile is active and routes to a chat model of the catalog.
func profileModel(p types.InferenceProfileSummary, text map[string]string) (Model, bool) {
	if p.Status != types.InferenceProfileStatusActive {
		return Model{}, false
	}
	id := aws.ToString(p.InferenceProfileId)
	if p.Type == types.InferenceProfileTypeApplication {
		id = aws.ToString(p.InferenceProfileArn)
	}
	var created int64
	if p.CreatedAt != nil {
		created = p.CreatedAt.Unix()
	}
	for _, m := range p.Models {
		// The ARNs name the base model in each region the profile routes
		// to.
		modelID, _ := modelid.Base(aws.ToString(m.ModelArn))
		if provider, ok := text[modelID]; ok {
			return Model{ID: id, OwnedBy: provider, Created: created, Base: modelID}, true
		}
	}
	return Model{}, false
}

// Known reports whether id is in the catalog fetched so far. It never
// blocks nor fetches: before the first fetch nothing is known.
func (c *Catalog) Known(id string) bool {
	c.mu.Lock()
	models := c.models
	c.mu.Unlock()
	_, ok := slices.BinarySearchFunc(models, id, func(m Model, id string) int { return strings.Compare(m.ID, id) })
	return ok
}
