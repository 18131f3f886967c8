package api_test

import (
	"context"
	"io"
	"log/slog"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/credentials"

	"github.com/tollgate-gw/tollgate/internal/api"
	"github.com/tollgate-gw/tollgate/internal/bedrocksim"
	"github.com/tollgate-gw/tollgate/internal/budget"
	"github.com/tollgate-gw/tollgate/internal/policy"
	"github.com/tollgate-gw/tollgate/internal/upstream"
	"github.com/tollgate-gw/tollgate/internal/usage/memory"
)

// simServer serves the gateway's router on a Bedrock simulator of its
// own, under the policy policyYAML (one file, p.yaml), with budgets in a
// memory store and logs discarded; tune, when not nil, changes the Deps
// before the router is built. Both stop when t ends.
func simServer(t testing.TB, policyYAML string, tune func(*api.Deps)) *httptest.Server {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	simURL, err := bedrocksim.New(bedrocksim.Options{}).Start(ctx, "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	cfg, err := config.LoadDefaultConfig(ctx, config.WithRegion("us-east-1"),
		config.WithCredentialsProvider(credentials.NewStaticCredentialsProvider("x", "x", "")))
	if err != nil {
		t.Fatal(err)
	}
	p, err := policy.Parse(map[string][]byte{"p.yaml": []byte(policyYAML)})
	if err != nil {
		t.Fatal(err)
	}
	client := upstream.NewClient(cfg, simURL)
	deps := api.Deps{
		Logger:   slog.New(slog.NewTextHandler(io.Discard, nil)),
		Policies: policy.NewHolder(p),
		Bedrock:  client,
		Catalog:  upstream.NewCatalog(ctx, client, time.Minute, time.Now),
		Budget:   budget.New(memory.New(), budget.Options{}),
	}
	if tune != nil {
		tune(&deps)
	}
	srv := httptest.NewServer(api.NewServer(deps))
	t.Cleanup(srv.Close)
	return srv
}
