package api

import (
	"net/http"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/bedrockruntime/types"
	"github.com/gin-gonic/gin"

	"github.com/tollgate-gw/tollgate/internal/converse"
)

// sseSink sends a chat completion's stream as OpenAI server-sent events,
// flushing each chunk as it is produced. It implements gate.Sink.
type sseSink struct {
	c      *gin.Context
	rc     *http.ResponseController
	t      *converse.Stream
	buf    []byte
	writeT time.Duration
	until  time.Time // the write deadline last set on the connection
	opened bool
	gone   bool // a write failed: the client stopped reading or left
}

// Open implements [gate.Sink.Open]: the stream's response head.
func (s *sseSink) Open() {
	h := s.c.Writer.Header()
	h.Set("Content-Type", "text/event-stream; charset=utf-8")
	h.Set("Cache-Control", "no-cache")
	h.Set("Connection", "keep-alive")
	h.Set("X-Accel-Buffering", "no") // proxies such as nginx must not buffer the stream
	s.c.Status(http.StatusOK)
	s.opened = true
}

// Event implements [gate.Sink.Event].
func (s *sseSink) Event(ev types.ConverseStreamOutput) error {
	s.buf = s.t.AppendEvent(s.buf[:0], ev)
	if len(s.buf) == 0 {
		return nil
	}
	return s.write(s.buf)
}

// write sends b and flushes it. A client that stops reading must not block
// the stream for ever: past the write deadline it is taken as gone.
//
// Each write may wait writeT at least and writeT+writeT/8 at most: the
// deadline is moved only when it is nearer than writeT, not at every chunk
// (moving it re-arms the connection's runtime timer, a lock and a heap
// update per chunk).
func (s *sseSink) write(b []byte) error {
	if now := time.Now(); s.until.Before(now.Add(s.writeT)) {
		s.until = now.Add(s.writeT + s.writeT/8)
		_ = s.rc.SetWriteDeadline(s.until)
	}
	_, err := s.c.Writer.Write(b)
	if err == nil {
		err = s.rc.Flush()
	}
	if err != nil {
		s.gone = true
	}
	return err
}

// newSSESink returns the sink of one streamed chat completion.
func newSSESink(c *gin.Context, d Deps, meta converse.Meta, includeUsage bool) *sseSink {
	return &sseSink{c: c, rc: http.NewResponseController(c.Writer), t: converse.NewStream(meta, includeUsage),
		buf: make([]byte, 0, 1024), writeT: d.StreamWriteTimeout}
}

// finish ends the stream once the gate is done with it (err is what
// [gate.Exchange.ConverseStream] returned). A failure before the stream
// started is an ordinary error response; after it, an error event ends the
// stream instead of data: [DONE], also when the stream ended without its
// messageStop and metadata (the SDK reports a dropped connection as a clean
// end). Nothing is sent to a client that left.
func (s *sseSink) finish(err error) {
	if !s.opened {
		writeError(s.c, err)
		return
	}
	defer func() { _ = s.rc.SetWriteDeadline(time.Time{}) }() // the connection may serve another request
	var tail []byte
	if err == nil {
		tail, err = s.t.End()
	}
	if err != nil {
		tail = streamErrorEvent(s.c, err)
	}
	if !s.gone && s.c.Request.Context().Err() == nil {
		_ = s.write(tail)
	}
}
