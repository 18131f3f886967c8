package gate_test

import (
	"context"
	"fmt"
	"log/slog"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/bedrockruntime"
	"github.com/aws/aws-sdk-go-v2/service/bedrockruntime/types"

	"github.com/tollgate-gw/tollgate/internal/bedrocksim"
	"github.com/tollgate-gw/tollgate/internal/budget"
	"github.com/tollgate-gw/tollgate/internal/gate"
	"github.com/tollgate-gw/tollgate/internal/policy"
	"github.com/tollgate-gw/tollgate/internal/upstream"
	"github.com/tollgate-gw/tollgate/internal/usage/memory"
)

// A whole exchange, as a front end drives it, against the simulator:
// route, admit, call, settle, finish.
func Example() {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	simURL, _ := bedrocksim.New(bedrocksim.Options{}).Start(ctx, "127.0.0.1:0")
	cfg, _ := config.LoadDefaultConfig(ctx, config.WithRegion("us-east-1"),
		config.WithCredentialsProvider(credentials.NewStaticCredentialsProvider("x", "x", "")))
	client := upstream.NewClient(cfg, simURL)
	pol, _ := policy.Parse(nil)
	pol, _ = pol.WithKey(policy.Key{ID: "team-a", SHA256: policy.HashSecret("sk-team-a")})
	key, _ := pol.KeyByID("team-a")
	g := gate.New(gate.Config{Bedrock: client, Catalog: upstream.NewCatalog(ctx, client, time.Minute, time.Now),
		Budget: budget.New(memory.New(), budget.Options{}), Logger: slog.Default()})

	x := g.Open(gate.Caller{Policy: pol, Key: key, RequestID: "req-1"}, "example")
	route, _ := x.Route(ctx, "anthropic.claude-3-haiku-20240307-v1:0", false)
	grant, _ := x.Admit(ctx, gate.Demand{InputBytes: 11, MaxOutput: 50})
	out, _ := x.Converse(ctx, &bedrockruntime.ConverseInput{ModelId: &route.ModelID,
		InferenceConfig: &types.InferenceConfiguration{MaxTokens: aws.Int32(int32(grant.MaxOutput))},
		Messages: []types.Message{{Role: types.ConversationRoleUser,
			Content: []types.ContentBlock{&types.ContentBlockMemberText{Value: "Hello there"}}}}})
	x.Finish(ctx, 200)

	s, _ := x.Settlement()
	fmt.Println(out.Output.(*types.ConverseOutputMemberMessage).Value.Content[0].(*types.ContentBlockMemberText).Value)
	fmt.Println(s.Usage.Input, "tokens in,", s.Usage.Output, "out:", budget.USD(s.CostMicros))
	// Output:
	// This is a simulated reply from Claude 3 Haiku to: Hello there.
	// 3 tokens in, 16 out: $0.000021
}
