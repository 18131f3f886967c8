package upstream_test

import (
	"context"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/google/go-cmp/cmp"

	"github.com/tollgate-gw/tollgate/internal/bedrocksim"
	"github.com/tollgate-gw/tollgate/internal/upstream"
)

// fakeClock is a clock the test moves by hand.
type fakeClock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *fakeClock) now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *fakeClock) add(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

func simClient(t *testing.T, ctx context.Context) *upstream.Client {
	t.Helper()
	url, err := bedrocksim.New(bedrocksim.Options{}).Start(ctx, "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	cfg := aws.Config{Region: "us-east-1", Credentials: credentials.NewStaticCredentialsProvider("a", "b", "")}
	return upstream.NewClient(cfg, url)
}

func TestCatalogListsCallableChatModels(t *testing.T) {
	ctx := t.Context()
	clock := &fakeClock{t: time.Date(2026, 11, 1, 0, 0, 0, 0, time.UTC)}
	cat := upstream.NewCatalog(ctx, simClient(t, ctx), time.Minute, clock.now)
	models, err := cat.Models(ctx)
	if err != nil {
		t.Fatal(err)
	}
	ids := make([]string, len(models))
	for i, m := range models {
		ids[i] = m.ID
		if m.OwnedBy == "" {
			t.Errorf("%s has no owner", m.ID)
		}
	}
	if !slices.IsSorted(ids) {
		t.Error("catalog not sorted by id")
	}
	for _, want := range []string{
		"anthropic.claude-3-haiku-20240307-v1:0",     // on-demand foundation model
		"us.anthropic.claude-3-haiku-20240307-v1:0",  // system-defined profile
		"us.anthropic.claude-sonnet-4-20250514-v1:0", // profile of a profile-only model
		"anthropic.claude-v2:1",                      // LEGACY still callable
		"amazon.titan-embed-text-v2:0",               // embeddings, on demand
		"cohere.embed-english-v3",                    // embeddings, on demand
	} {
		if _, ok := slices.BinarySearch(ids, want); !ok {
			t.Errorf("catalog lacks %s", want)
		}
	}
	for _, absent := range []string{
		"amazon.nova-canvas-v1:0",                 // images, neither chat nor embeddings
		"anthropic.claude-sonnet-4-20250514-v1:0", // needs an inference profile
	} {
		if _, ok := slices.BinarySearch(ids, absent); ok {
			t.Errorf("catalog lists %s", absent)
		}
	}
	var app bool
	for _, id := range ids {
		if len(id) > 4 && id[:4] == "arn:" {
			app = true
		}
	}
	if !app {
		t.Error("catalog lacks the application inference profile")
	}
	if _, ok, err := cat.Lookup(ctx, "anthropic.claude-3-haiku-20240307-v1:0"); !ok || err != nil {
		t.Errorf("Lookup: %v %v", ok, err)
	}
	if _, ok, _ := cat.Lookup(ctx, "no.such-model"); ok {
		t.Error("Lookup found an unknown model")
	}
}

// TestCatalogKeepsLastGoodList: once the TTL passed, a refresh runs in the
// background; when it fails, requests keep getting the last good list at
// once.
func TestCatalogKeepsLastGoodList(t *testing.T) {
	ctx := t.Context()
	simCtx, stopSim := context.WithCancel(ctx)
	clock := &fakeClock{t: time.Date(2026, 11, 1, 0, 0, 0, 0, time.UTC)}
	cat := upstream.NewCatalog(ctx, simClient(t, simCtx), time.Minute, clock.now)
	first, err := cat.Models(ctx)
	if err != nil || len(first) == 0 {
		t.Fatalf("first list: %d models, %v", len(first), err)
	}
	stopSim() // Bedrock is now unreachable
	time.Sleep(100 * time.Millisecond)
	clock.add(2 * time.Minute)
	for range 3 {
		start := time.Now()
		got, err := cat.Models(ctx)
		if err != nil || len(got) != len(first) {
			t.Fatalf("after a failed refresh: %d models, %v", len(got), err)
		}
		if time.Since(start) > time.Second {
			t.Error("Models blocked on the refresh")
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func TestCatalogFirstFetchFails(t *testing.T) {
	ctx := t.Context()
	cfg := aws.Config{Region: "us-east-1", Credentials: credentials.NewStaticCredentialsProvider("a", "b", "")}
	cat := upstream.NewCatalog(ctx, upstream.NewClient(cfg, "http://127.0.0.1:1"), time.Minute, nil)
	if _, err := cat.Models(ctx); err == nil {
		t.Fatal("no error from an unreachable Bedrock")
	}
}

// TestCatalogCreatedIsStable: a model's created does not move when the
// catalog refreshes. Models Bedrock gives no date keep the time the catalog
// first listed them; inference profiles keep their creation date.
func TestCatalogCreatedIsStable(t *testing.T) {
	ctx := t.Context()
	start := time.Date(2026, 11, 1, 0, 0, 0, 0, time.UTC)
	clock := &fakeClock{t: start}
	cat := upstream.NewCatalog(ctx, simClient(t, ctx), time.Minute, clock.now)
	first, err := cat.Models(ctx)
	if err != nil {
		t.Fatal(err)
	}
	clock.add(2 * time.Minute) // past the TTL: the next call starts a refresh
	var second []upstream.Model
	deadline := time.Now().Add(10 * time.Second)
	for {
		second, err = cat.Models(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if &second[0] != &first[0] { // the refreshed list replaced the first
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the catalog did not refresh")
		}
		time.Sleep(10 * time.Millisecond)
	}
	created := func(models []upstream.Model) map[string]int64 {
		m := map[string]int64{}
		for _, x := range models {
			m[x.ID] = x.Created
		}
		return m
	}
	if diff := cmp.Diff(created(first), created(second)); diff != "" {
		t.Errorf("created changed across a refresh (-first +second):\n%s", diff)
	}
	want := map[string]int64{
		"anthropic.claude-3-haiku-20240307-v1:0":    start.Unix(),                                        // no date from Bedrock: first listed
		"amazon.titan-embed-text-v2:0":              start.Unix(),                                        // likewise, an embedding model
		"us.anthropic.claude-3-haiku-20240307-v1:0": time.Date(2024, 8, 27, 0, 0, 0, 0, time.UTC).Unix(), // the profile's creation
	}
	got := created(second)
	for id, w := range want {
		if got[id] != w {
			t.Errorf("%s: created %d, want %d", id, got[id], w)
		}
	}
}
