package bedrocksim_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/bedrockruntime"
	"github.com/aws/aws-sdk-go-v2/service/bedrockruntime/document"
	"github.com/aws/aws-sdk-go-v2/service/bedrockruntime/types"
	"github.com/google/go-cmp/cmp"

	"github.com/tollgate-gw/tollgate/internal/bedrocksim"
)

func TestConverseStream(t *testing.T) {
	s := startSim(t, bedrocksim.Options{ChunkInterval: time.Millisecond})
	rt := s.runtime()

	tools := converseInput(haiku, "Use get_weather for Paris")
	tools.ToolConfig = weatherTools()
	thinking := converseInput(sonnet4, "Hello there")
	thinking.InferenceConfig = &types.InferenceConfiguration{MaxTokens: aws.Int32(2048)}
	thinking.AdditionalModelRequestFields = document.NewLazyDocument(map[string]any{
		"thinking": map[string]any{"type": "enabled", "budget_tokens": 1024},
	})
	tests := []struct {
		name string
		in   *bedrockruntime.ConverseInput
		want []string
		// minDeltas is the least number of deltas each block must arrive in.
		minDeltas map[int32]int
	}{
		{
			name: "text arrives in several deltas, without contentBlockStart",
			in:   converseInput(haiku, "Hello there"),
			want: []string{
				"messageStart: assistant",
				"delta 0: This is a simulated reply from Claude 3 Haiku to: Hello there.",
				"stop 0",
				"messageStop: end_turn",
				"metadata",
			},
			minDeltas: map[int32]int{0: 3},
		},
		{
			name: "tool use: text, then a started toolUse block with input fragments",
			in:   tools,
			want: []string{
				"messageStart: assistant",
				"delta 0: I'll call get_weather.",
				"stop 0",
				"start 1: toolUse get_weather true",
				`delta 1: {"city":"example","days":1,"unit":"celsius"}`,
				"stop 1",
				"messageStop: tool_use",
				"metadata",
			},
			minDeltas: map[int32]int{0: 1, 1: 2},
		},
		{
			name: "reasoning block with its signature, then text",
			in:   thinking,
			want: []string{
				"messageStart: assistant",
				"delta 0: The user asks about: Hello there. I will answer briefly. (signed)",
				"stop 0",
				"delta 1: This is a simulated reply from Claude Sonnet 4 to: Hello there.",
				"stop 1",
				"messageStop: end_turn",
				"metadata",
			},
			minDeltas: map[int32]int{0: 2, 1: 2},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			out, err := rt.ConverseStream(context.Background(), streamInput(tt.in))
			if err != nil {
				t.Fatalf("ConverseStream: %v", err)
			}
			got := readStream(t, out)
			if got.Err != nil {
				t.Errorf("stream Err() = %v", got.Err)
			}
			if diff := cmp.Diff(tt.want, got.Lines); diff != "" {
				t.Errorf("events (-want +got):\n%s", diff)
			}
			for idx, n := range tt.minDeltas {
				if got.Deltas[idx] < n {
					t.Errorf("block %d came in %d deltas, want at least %d", idx, got.Deltas[idx], n)
				}
			}
			// The metadata usage is what Converse reports for the same request.
			conv, err := rt.Converse(context.Background(), tt.in)
			if err != nil {
				t.Fatalf("Converse: %v", err)
			}
			if diff := cmp.Diff(flattenUsage(conv.Usage), got.Usage); diff != "" {
				t.Errorf("stream usage differs from Converse usage (-converse +stream):\n%s", diff)
			}
		})
	}
}

func TestConverseStreamFaults(t *testing.T) {
	s := startSim(t, bedrocksim.Options{})
	rt := s.runtime()

	t.Run("cut drops the connection: the SDK reports a clean end", func(t *testing.T) {
		out, err := rt.ConverseStream(context.Background(), streamInput(converseInput(haiku, "Hello there [sim:cut]")))
		if err != nil {
			t.Fatalf("ConverseStream: %v", err)
		}
		got := readStream(t, out)
		want := []string{"messageStart: assistant", "delta 0: This is a simulated reply from "}
		if diff := cmp.Diff(want, got.Lines); diff != "" {
			t.Errorf("events (-want +got):\n%s", diff)
		}
		// bedrockruntime v1.63 treats an unexpected EOF as the end of the
		// stream: only the missing messageStop and metadata tell the failure.
		if got.Err != nil {
			t.Errorf("Err() = %v, want nil (SDK behaviour this test pins)", got.Err)
		}
	})

	t.Run("cut on Converse fails the call without an API error", func(t *testing.T) {
		_, err := rt.Converse(context.Background(), converseInput(haiku, "Hello there [sim:cut]"))
		if err == nil {
			t.Fatal("Converse succeeded, want a transport error")
		}
	})

	exceptions := []struct {
		name   string
		target any
	}{
		{"throttlingException", new(*types.ThrottlingException)},
		{"modelStreamErrorException", new(*types.ModelStreamErrorException)},
		{"internalServerException", new(*types.InternalServerException)},
		{"validationException", new(*types.ValidationException)},
		{"serviceUnavailableException", new(*types.ServiceUnavailableException)},
	}
	if got := len(bedrocksim.StreamExceptionNames()); got != len(exceptions) {
		t.Errorf("StreamExceptionNames has %d names, the test covers %d", got, len(exceptions))
	}
	for _, ex := range exceptions {
		t.Run("exception "+ex.name, func(t *testing.T) {
			out, err := rt.ConverseStream(context.Background(), streamInput(converseInput(haiku, "Hello there [sim:exception="+ex.name+"]")))
			if err != nil {
				t.Fatalf("ConverseStream: %v", err)
			}
			got := readStream(t, out)
			want := []string{"messageStart: assistant", "delta 0: This is a simulated reply from "}
			if diff := cmp.Diff(want, got.Lines); diff != "" {
				t.Errorf("events (-want +got):\n%s", diff)
			}
			if !errors.As(got.Err, ex.target) {
				t.Fatalf("Err() = %v (%T), want %T", got.Err, got.Err, ex.target)
			}
		})
	}

	t.Run("error before the stream starts is an HTTP error", func(t *testing.T) {
		_, err := rt.ConverseStream(context.Background(), streamInput(converseInput(haiku, "Hi [sim:error=ThrottlingException]")))
		var te *types.ThrottlingException
		if !errors.As(err, &te) {
			t.Fatalf("err = %v, want ThrottlingException", err)
		}
		if code, status := apiError(t, err); code != "ThrottlingException" || status != 429 {
			t.Errorf("got %s %d, want ThrottlingException 429", code, status)
		}
	})

	t.Run("stall ends when the client cancels", func(t *testing.T) {
		ctx, cancel := context.WithCancel(context.Background())
		defer cancel()
		out, err := rt.ConverseStream(ctx, streamInput(converseInput(haiku, "Hello there [sim:stall]")))
		if err != nil {
			t.Fatalf("ConverseStream: %v", err)
		}
		es := out.GetStream()
		defer es.Close()
		var deltas int
		for ev := range es.Events() {
			if _, ok := ev.(*types.ConverseStreamOutputMemberContentBlockDelta); ok {
				deltas++
				break
			}
		}
		select {
		case ev, ok := <-es.Events():
			t.Fatalf("stalled stream sent %T (open %t)", ev, ok)
		case <-time.After(100 * time.Millisecond):
		}
		cancel()
		select {
		case <-drain(es.Events()):
		case <-time.After(5 * time.Second):
			t.Fatal("stream did not end after cancel")
		}
		if deltas != 1 {
			t.Errorf("got %d deltas before the stall, want 1", deltas)
		}
	})
}

func TestStallTimeout(t *testing.T) {
	s := startSim(t, bedrocksim.Options{StallTimeout: 50 * time.Millisecond})
	out, err := s.runtime().ConverseStream(context.Background(), streamInput(converseInput(haiku, "Hello there [sim:stall]")))
	if err != nil {
		t.Fatalf("ConverseStream: %v", err)
	}
	got := readStream(t, out)
	want := []string{"messageStart: assistant", "delta 0: This is a "}
	if diff := cmp.Diff(want, got.Lines); diff != "" {
		t.Errorf("events (-want +got):\n%s", diff)
	}
}

// drain returns a channel closed once events is closed.
func drain(events <-chan types.ConverseStreamOutput) <-chan struct{} {
	done := make(chan struct{})
	go func() {
		defer close(done)
		for range events {
		}
	}()
	return done
}
