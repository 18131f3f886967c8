package upstream

import (
	"context"
	"net/http"
	"net/http/httptest"
	"sync/atomic"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/bedrockruntime"
	"github.com/aws/aws-sdk-go-v2/service/bedrockruntime/types"
)

// TestSingleAttempt: a throttled call is tried DefaultMaxAttempts times,
// once under SingleAttempt, and its error is still Bedrock's throttling.
func TestSingleAttempt(t *testing.T) {
	var hits atomic.Int64
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		hits.Add(1)
		w.Header().Set("Content-Type", "application/json")
		w.Header().Set("X-Amzn-ErrorType", "ThrottlingException")
		w.WriteHeader(http.StatusTooManyRequests)
		w.Write([]byte(`{"message":"Too many requests"}`))
	}))
	defer srv.Close()
	c := NewClient(aws.Config{Region: "us-east-1", Credentials: credentials.NewStaticCredentialsProvider("AKID", "SECRET", "")}, srv.URL)
	in := &bedrockruntime.ConverseInput{ModelId: aws.String("amazon.nova-micro-v1:0"),
		Messages: []types.Message{{Role: types.ConversationRoleUser, Content: []types.ContentBlock{&types.ContentBlockMemberText{Value: "hi"}}}}}
	for _, tt := range []struct {
		name string
		ctx  context.Context
		want int64
	}{
		{"configured retries", context.Background(), DefaultMaxAttempts},
		{"single attempt", SingleAttempt(context.Background()), 1},
	} {
		hits.Store(0)
		_, err := c.Converse(tt.ctx, in)
		if err == nil || ErrorCode(err) != "ThrottlingException" || MapError(err).Code != "rate_limit_exceeded" {
			t.Errorf("%s: error %v (code %q), want Bedrock's throttling", tt.name, err, ErrorCode(err))
		}
		if got := hits.Load(); got != tt.want {
			t.Errorf("%s: %d attempts, want %d", tt.name, got, tt.want)
		}
	}
}
