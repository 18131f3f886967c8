package api

import (
	"net/http"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/bedrockruntime/types"
	"github.com/gin-gonic/gin"

	"github.com/tollgate-gw/tollgate"
	"github.com/tollgate-gw/tollgate/internal/converse"
)

// handleResponses serves POST /v1/responses (OpenAI's Responses API, which
// Codex and the Agents SDK speak), plain and streamed: it decodes the
// request into its chat equivalent, describes the call to the gate as chat
// does, and encodes a response object or the Responses event stream.
func handleResponses(d Deps) gin.HandlerFunc {
	return func(c *gin.Context) {
		x := exchangeOf(c)
		body, err := readJSONBody(c, d.MaxBodyBytes, d.BodyReadTimeout)
		if err != nil {
			writeError(c, err)
			return
		}
		if refuseExhausted(c, x, body) {
			return
		}
		req, err := converse.ParseResponsesRequest(body)
		if err != nil {
			writeError(c, err)
			return
		}
		chat := &req.Chat
		route, in, err := prepareConverse(c, d, x, chat, len(body), req.InputError)
		if err != nil {
			writeError(c, err)
			return
		}
		ctx := c.Request.Context()
		meta := converse.ResponsesMeta{ID: converse.NewResponseID(), CreatedAt: d.Now().Unix(), Model: chat.Model,
			JSONTool: chat.JSONTool(route.ModelID), Req: req, Now: func() int64 { return d.Now().Unix() }}
		if chat.Stream {
			s := &responsesSink{streamOut: newStreamOut(c, d), t: converse.NewResponsesStream(meta), buf: make([]byte, 0, 1024)}
			s.finish(x.ConverseStream(ctx, in, s))
			return
		}
		out, err := x.Converse(ctx, in)
		if err != nil {
			writeError(c, err)
			return
		}
		resp, _, err := converse.FromConverseResponses(out, meta)
		if err != nil {
			writeError(c, err)
			return
		}
		c.JSON(http.StatusOK, resp)
	}
}

// responsesSink sends a response's stream as the Responses API's
// server-sent events, flushing each as it is produced. It implements
// gate.Sink.
type responsesSink struct {
	streamOut
	t   *converse.ResponsesStream
	buf []byte
}

// Event implements [gate.Sink.Event].
func (s *responsesSink) Event(ev types.ConverseStreamOutput) error {
	s.buf = s.t.AppendEvent(s.buf[:0], ev)
	if len(s.buf) == 0 {
		return nil
	}
	return s.write(s.buf)
}

// finish ends the stream once the gate is done with it: a failure before
// the stream started is an ordinary error response (a budget refusal is a
// plain 429, which Codex shows as "Quota exceeded"); after it, an error
// event and response.failed end the stream, also when Bedrock's stream
// ended without its messageStop and metadata.
func (s *responsesSink) finish(err error) {
	if !s.opened {
		writeError(s.c, err)
		return
	}
	defer func() { _ = s.rc.SetWriteDeadline(time.Time{}) }()
	var tail []byte
	if err == nil {
		tail, err = s.t.End()
	}
	if err != nil {
		e := tollgate.AsError(err)
		noteError(s.c, e)
		tail = s.t.Fail(nil, e)
	}
	if len(tail) > 0 && !s.gone && s.c.Request.Context().Err() == nil {
		_ = s.write(tail)
	}
}
