package upstream_test

import (
	"errors"
	"testing"

	"github.com/aws/aws-sdk-go-v2/service/bedrockruntime/types"

	"github.com/tollgate-gw/tollgate"
	"github.com/tollgate-gw/tollgate/internal/upstream"
)

const claudeBody = `{"anthropic_version":"bedrock-2023-05-31","max_tokens":50,"messages":[{"role":"user","content":"Hello there"}]}`

func TestInvokeModelStream(t *testing.T) {
	client := simClient(t, t.Context())
	stream, err := client.InvokeModelStream(t.Context(), "us.anthropic.claude-sonnet-4-5-20250929-v1:0", []byte(claudeBody), upstream.Guardrail{})
	if err != nil {
		t.Fatal(err)
	}
	defer stream.Close()
	chunks := 0
	for ev := range stream.Events() {
		if _, ok := ev.(*types.ResponseStreamMemberChunk); !ok {
			t.Errorf("event %T, want chunks", ev)
		}
		chunks++
	}
	if err := stream.Err(); err != nil || chunks < 5 {
		t.Errorf("%d chunks, err %v", chunks, err)
	}
	_, err = client.InvokeModelStream(t.Context(), "us.anthropic.claude-sonnet-4-5-20250929-v1:0", []byte(`{"max_tokens":1}`), upstream.Guardrail{})
	var e *tollgate.Error
	if !errors.As(err, &e) || e.Kind != tollgate.Invalid {
		t.Errorf("a bad body: %v, want a 400", err)
	}
}

func TestCountTokens(t *testing.T) {
	client := simClient(t, t.Context())
	n, err := client.CountTokens(t.Context(), "anthropic.claude-sonnet-4-5-20250929-v1:0", []byte(claudeBody))
	if err != nil || n != 3 {
		t.Errorf("CountTokens = %d, %v; want 3", n, err)
	}
	_, err = client.CountTokens(t.Context(), "amazon.nova-micro-v1:0", []byte(claudeBody))
	var e *tollgate.Error
	if !errors.As(err, &e) || e.Kind != tollgate.Invalid {
		t.Errorf("a model that does not count: %v, want a 400", err)
	}
}
