package converse_test

import (
	"errors"
	"testing"

	"github.com/aws/aws-sdk-go-v2/service/bedrockruntime/types"

	"github.com/tollgate-gw/tollgate"
	"github.com/tollgate-gw/tollgate/internal/converse"
	"github.com/tollgate-gw/tollgate/internal/openapitest"
)

// FuzzParseResponsesRequest: ParseResponsesRequest never panics, and every
// error is a *tollgate.Error of Kind Invalid; what it accepts,
// ResponsesToConverse, the budget's measures and a response built for it
// can handle without panicking.
func FuzzParseResponsesRequest(f *testing.F) {
	for _, seed := range []string{
		`{"model":"m","input":"hi"}`,
		`{"model":"m","instructions":"s","input":[{"role":"developer","content":"d"},{"role":"user","content":[{"type":"input_text","text":"u"},{"type":"input_image","image_url":"data:image/png;base64,iVBORw0KGgo="}]}],"stream":true}`,
		`{"model":"m","input":[{"role":"user","content":"w"},{"type":"reasoning","id":"r","summary":[],"encrypted_content":"` + signed + `"},{"type":"function_call","call_id":"c","namespace":"crm","name":"lookup","arguments":"{\"a\":1}"},{"type":"function_call_output","call_id":"c","output":"ok"}],"tools":[{"type":"namespace","name":"crm","description":"","tools":[{"type":"function","name":"lookup"}]},{"type":"custom","name":"apply_patch"}],"tool_choice":{"type":"function","namespace":"crm","name":"lookup"},"reasoning":{"effort":"high"}}`,
		`{"model":"m","input":[{"type":"custom_tool_call","call_id":"c","name":"x y","input":"p"},{"type":"custom_tool_call_output","call_id":"c","output":[{"type":"input_text","text":"o"}]}],"text":{"format":{"type":"json_schema","name":"n","schema":{"type":"object"}}}}`,
		`{"model":"m","input":[]}`,
		`{"model":"m","input":[null,1,"x"]}`,
		`{"model":"m","input":"x","tools":[{"type":"namespace","name":"a","tools":[{"type":"namespace","name":"b","tools":[]}]}]}`,
		`{"model":"m","input":"x","instructions":[{"role":"assistant","content":"a"}],"text":{"format":null},"reasoning":null}`,
	} {
		f.Add([]byte(seed))
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		r, err := converse.ParseResponsesRequest(body)
		if err != nil {
			var e *tollgate.Error
			if !errors.As(err, &e) || e.Kind != tollgate.Invalid {
				t.Fatalf("error %v (%T) is not Invalid", err, err)
			}
			return
		}
		for _, model := range []string{haiku3, sonnet45} {
			in, err := converse.ResponsesToConverse(r, model, converse.Options{PromptCache: true})
			if err != nil {
				var e *tollgate.Error
				if !errors.As(err, &e) || e.Kind != tollgate.Invalid {
					t.Fatalf("ResponsesToConverse: %v is not Invalid", err)
				}
				continue
			}
			converse.OutputCap(&r.Chat, model)
			converse.MeasureInput(&r.Chat, len(body))
			converse.InputTexts(in)
		}
		meta := converse.ResponsesMeta{ID: "resp_F", Model: r.Chat.Model, Req: r}
		s := converse.NewResponsesStream(meta)
		var out []byte
		for _, ev := range []types.ConverseStreamOutput{msgStart(), toolStart(0, "t", "crm__lookup"), toolInput(0, `{"a":`), blockStop(0), text(1, "x"), msgStop("tool_use"), metadata(1, 1, 0, 0)} {
			out = s.AppendEvent(out, ev)
		}
		if _, err := s.End(); err != nil {
			t.Fatal(err)
		}
	})
}

// FuzzResponsesStream: random sequences of ConverseStream events (the
// decoder of FuzzStream) into NewResponsesStream never panic, and the
// output, ended by End or, for a stream End finds incomplete, by Fail, is
// a valid Responses event stream (types, order, sequence numbers, schemas).
func FuzzResponsesStream(f *testing.F) {
	f.Add([]byte{0, 1, 0, 5, 'H', 'e', 'l', 'l', 'o', 4, 0, 5, 0, 6, 0, 5, 0, 3, 0, 0, 0, 0})
	f.Add([]byte{0, 2, 1, 3, 'i', 'd', '1', 3, 'g', 'e', 't', 3, 1, 6, '{', '"', 'a', '"', ':', '1', 3, 1, 1, '}', 4, 1, 5, 1, 6, 0, 7, 0, 9, 0, 0})
	f.Add([]byte{7, 0, 0, 3, 'h', 'm', 'm', 4, 0, 1, 1, 2, 'o', 'k', 5, 0, 6, 1})
	f.Add([]byte{1, 0, 2, 0xff, 0xfe, 5, 2})
	f.Add([]byte{})
	f.Fuzz(func(t *testing.T, data []byte) {
		s := converse.NewResponsesStream(converse.ResponsesMeta{ID: "resp_FUZZ", CreatedAt: 1700000000, Model: "m", JSONTool: "json_response"})
		var out []byte
		for _, ev := range decodeEvents(data) {
			out = s.AppendEvent(out, ev)
		}
		tail, err := s.End()
		if err != nil {
			var te *tollgate.Error
			if !errors.As(err, &te) || te.Kind != tollgate.BadGateway {
				t.Fatalf("End: %v, want a BadGateway", err)
			}
			tail = s.Fail(nil, te)
		}
		openapitest.ValidateResponsesSSE(t, append(out, tail...))
	})
}
