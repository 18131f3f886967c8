package api_test

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"slices"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/tollgate-gw/tollgate/internal/api"
	"github.com/tollgate-gw/tollgate/internal/policy"
)

// anthropicModelPage is a page of Anthropic's model list.
type anthropicModelPage struct {
	Data []struct {
		Type        string `json:"type"`
		ID          string `json:"id"`
		DisplayName string `json:"display_name"`
		CreatedAt   string `json:"created_at"`
	} `json:"data"`
	HasMore bool    `json:"has_more"`
	FirstID *string `json:"first_id"`
	LastID  *string `json:"last_id"`
}

func (p anthropicModelPage) ids() []string {
	var out []string
	for _, m := range p.Data {
		out = append(out, m.ID)
	}
	return out
}

// TestAnthropicModelListPaging pages through GET /v1/models in Anthropic's
// shape (Claude Code's gateway model discovery: anthropic-version set),
// through the router, against the Bedrock simulator's catalog: pages of 2
// followed by after_id cover the whole list once, in order, each page's
// first_id and last_id its ends and has_more true until the last; before_id
// walks back the same pages; the key's alias closes the list.
func TestAnthropicModelListPaging(t *testing.T) {
	srv := simServer(t, fmt.Sprintf(`
keys:
  - {id: dev, sha256: %s}
aliases:
  fast: us.anthropic.claude-haiku-4-5-20251001-v1:0
`, policy.HashSecret("sk-dev")), func(d *api.Deps) { d.Region = "us-east-1" })

	list := func(q url.Values) anthropicModelPage {
		t.Helper()
		req, _ := http.NewRequest("GET", srv.URL+"/v1/models?"+q.Encode(), nil)
		req.Header.Set("x-api-key", "sk-dev")
		req.Header.Set("anthropic-version", "2023-06-01")
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		if resp.StatusCode != 200 {
			t.Fatalf("GET /v1/models?%s: %d %s", q.Encode(), resp.StatusCode, b)
		}
		var page anthropicModelPage
		if err := json.Unmarshal(b, &page); err != nil {
			t.Fatalf("%v: %s", err, b)
		}
		for _, m := range page.Data {
			if m.Type != "model" || m.ID == "" {
				t.Errorf("model %+v: want type model and an id", m)
			}
			if _, err := time.Parse(time.RFC3339, m.CreatedAt); err != nil {
				t.Errorf("model %s: created_at %q is not RFC 3339", m.ID, m.CreatedAt)
			}
		}
		if n := len(page.Data); n > 0 && (page.FirstID == nil || page.LastID == nil || *page.FirstID != page.Data[0].ID || *page.LastID != page.Data[n-1].ID) {
			t.Errorf("first_id %v last_id %v, want the ends of %v", page.FirstID, page.LastID, page.ids())
		}
		return page
	}

	all := list(url.Values{"limit": {"1000"}})
	if all.HasMore {
		t.Error("the whole list has_more")
	}
	ids := all.ids()
	if len(ids) < 5 {
		t.Fatalf("only %d models listed: %v", len(ids), ids)
	}
	if ids[len(ids)-1] != "fast" {
		t.Errorf("the list ends with %q, want the key's alias fast", ids[len(ids)-1])
	}
	if !slices.Contains(ids, "claude-haiku-4-5-20251001") {
		t.Errorf("Claude Haiku 4.5 is not listed by its Anthropic name: %v", ids)
	}
	if def := list(url.Values{}); len(def.Data) != min(20, len(ids)) || def.HasMore != (len(ids) > 20) {
		t.Errorf("no limit: %d models, has_more %v; want the first min(20, %d)", len(def.Data), def.HasMore, len(ids))
	}

	// Forward, two at a time.
	var pages []anthropicModelPage
	var walked []string
	q := url.Values{"limit": {"2"}}
	for {
		page := list(q)
		pages = append(pages, page)
		walked = append(walked, page.ids()...)
		if want := len(walked) < len(ids); page.HasMore != want {
			t.Fatalf("page %d %v: has_more %v after %d of %d models", len(pages), page.ids(), page.HasMore, len(walked), len(ids))
		}
		if !page.HasMore {
			break
		}
		if len(page.Data) != 2 {
			t.Fatalf("page %d has %d models, want 2", len(pages), len(page.Data))
		}
		q.Set("after_id", *page.LastID)
	}
	if diff := cmp.Diff(ids, walked); diff != "" {
		t.Errorf("after_id pages (-whole list +walked):\n%s", diff)
	}

	// Backward from the last page: before_id gives back each page before.
	for i := len(pages) - 1; i > 0; i-- {
		page := list(url.Values{"limit": {"2"}, "before_id": {*pages[i].FirstID}})
		if diff := cmp.Diff(pages[i-1].ids(), page.ids()); diff != "" {
			t.Errorf("before_id %s (-page %d +got):\n%s", *pages[i].FirstID, i, diff)
		}
		if page.HasMore != (i > 1) {
			t.Errorf("before_id %s: has_more %v, want %v", *pages[i].FirstID, page.HasMore, i > 1)
		}
	}

	// Past the end: an empty page, no ids.
	if end := list(url.Values{"after_id": {"fast"}}); len(end.Data) != 0 || end.HasMore || end.FirstID != nil || end.LastID != nil {
		t.Errorf("after the last model: %+v", end)
	}
}
