package main

import (
	"context"
	"encoding/json"
	"errors"
	"strings"
	"testing"

	"github.com/openai/openai-go/v3"
	"github.com/openai/openai-go/v3/responses"
)

// The official OpenAI Go SDK's Responses API against the gateway; every
// body and stream it sees is validated against OpenAI's specification
// (gateway.client's recorder).

func TestResponsesGoSDK(t *testing.T) {
	g := simGateway(t)
	client := g.client(t, DemoKey)
	ctx := context.Background()

	resp, err := client.Responses.New(ctx, responses.ResponseNewParams{
		Model:           haiku,
		Instructions:    openai.String("You are terse."),
		Input:           responses.ResponseNewParamsInputUnion{OfString: openai.String("Say hello to Tollgate.")},
		MaxOutputTokens: openai.Int(200),
		Store:           openai.Bool(false),
	})
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(resp.ID, "resp_") || resp.Status != "completed" || resp.OutputText() == "" {
		t.Errorf("response: id %q status %q text %q", resp.ID, resp.Status, resp.OutputText())
	}
	if u := resp.Usage; u.InputTokens <= 0 || u.OutputTokens <= 0 || u.TotalTokens != u.InputTokens+u.OutputTokens {
		t.Errorf("usage = %+v", u)
	}

	// A function call, streamed, then its output sent back.
	weather := responses.ToolParamOfFunction("get_weather", map[string]any{
		"type": "object", "properties": map[string]any{"city": map[string]any{"type": "string"}},
		"required": []string{"city"}, "additionalProperties": false,
	}, true)
	input := responses.ResponseInputParam{responses.ResponseInputItemParamOfMessage("Weather in Paris? [sim:tool]", responses.EasyInputMessageRoleUser)}
	stream := client.Responses.NewStreaming(ctx, responses.ResponseNewParams{
		Model: haiku, Tools: []responses.ToolUnionParam{weather},
		Input: responses.ResponseNewParamsInputUnion{OfInputItemList: input},
	})
	var final responses.Response
	var seq []int64
	var args strings.Builder
	for stream.Next() {
		ev := stream.Current()
		seq = append(seq, ev.SequenceNumber)
		switch ev.Type {
		case "response.function_call_arguments.delta":
			args.WriteString(ev.Delta)
		case "response.completed":
			final = ev.AsResponseCompleted().Response
		}
	}
	if err := stream.Err(); err != nil {
		t.Fatal(err)
	}
	for i, n := range seq {
		if n != int64(i) {
			t.Fatalf("sequence numbers %v", seq)
		}
	}
	var call responses.ResponseFunctionToolCall
	for _, it := range final.Output {
		if it.Type == "function_call" {
			call = it.AsFunctionCall()
		}
	}
	if call.Name != "get_weather" || call.CallID == "" || call.Arguments != args.String() || !json.Valid([]byte(call.Arguments)) {
		t.Fatalf("call %+v, streamed arguments %q", call, args.String())
	}
	out := responses.ResponseInputItemParamOfFunctionCallOutput(`{"temperature_c":18}`)
	out.OfFunctionCallOutput.CallID = openai.String(call.CallID)
	input = append(input, responses.ResponseInputItemUnionParam{OfFunctionCall: new(call.ToParam())}, out)
	resp, err = client.Responses.New(ctx, responses.ResponseNewParams{
		Model: haiku, Tools: []responses.ToolUnionParam{weather},
		Input: responses.ResponseNewParamsInputUnion{OfInputItemList: input},
	})
	if err != nil {
		t.Fatal(err)
	}
	if resp.Status != "completed" || resp.OutputText() == "" {
		t.Errorf("the turn after the tool: status %q text %q", resp.Status, resp.OutputText())
	}

	// A hosted tool is refused, naming it.
	_, err = client.Responses.New(ctx, responses.ResponseNewParams{
		Model: haiku, Input: responses.ResponseNewParamsInputUnion{OfString: openai.String("Hi")},
		Tools: []responses.ToolUnionParam{{OfWebSearch: &responses.WebSearchToolParam{Type: responses.WebSearchToolTypeWebSearch}}},
	})
	var apiErr *openai.Error
	if !errors.As(err, &apiErr) || apiErr.StatusCode != 400 || apiErr.Param != "tools[0].type" {
		t.Errorf("web_search: %v", err)
	}
}
