package api

import (
	"context"
	"net/http"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/bedrockruntime"

	"github.com/tollgate-gw/tollgate/internal/converse"
	"github.com/tollgate-gw/tollgate/internal/upstream"
)

// streamChat relays a ConverseStream as OpenAI server-sent events, flushing
// each chunk as it is produced. A failure before the first byte is an
// ordinary error response; after it, an error event ends the stream.
//
// When the client goes away, the Bedrock stream is still read, for at most
// DrainTimeout, until its metadata event reports the usage, so the bill is
// exact; only when it never comes is the usage estimated.
func streamChat(ctx context.Context, x *exchange, in *bedrockruntime.ConverseInput, meta converse.Meta, includeUsage bool) {
	c, d := x.c, x.d
	stream, err := d.Bedrock.ConverseStream(ctx, in)
	if err != nil {
		x.settle(x.failedUsage(ctx, in)) // nothing, unless the gateway gave up waiting
		writeError(c, err)
		return
	}
	defer stream.Close()

	h := c.Writer.Header()
	h.Set("Content-Type", "text/event-stream; charset=utf-8")
	h.Set("Cache-Control", "no-cache")
	h.Set("Connection", "keep-alive")
	h.Set("X-Accel-Buffering", "no") // proxies such as nginx must not buffer the stream
	c.Status(http.StatusOK)

	w := c.Writer
	rc := http.NewResponseController(w)
	defer func() { _ = rc.SetWriteDeadline(time.Time{}) }() // the connection may serve another request
	t := converse.NewStream(meta, includeUsage)
	events := stream.Events()
	clientDone := c.Request.Context().Done()
	var drain <-chan time.Time
	gone := false
	leave := func() {
		gone, clientDone = true, nil
		drain = time.After(d.DrainTimeout)
	}
	buf := make([]byte, 0, 1024)
	first := true
loop:
	for {
		select {
		case ev, ok := <-events:
			if !ok {
				break loop
			}
			buf = t.AppendEvent(buf[:0], ev)
			if gone || len(buf) == 0 {
				continue
			}
			// A client that stops reading must not block the stream for
			// ever: past the write deadline it is taken as gone.
			_ = rc.SetWriteDeadline(time.Now().Add(d.StreamWriteTimeout))
			if _, err := w.Write(buf); err != nil {
				leave()
				continue
			}
			if err := rc.Flush(); err != nil {
				leave()
				continue
			}
			if first && t.OutputBytes() > 0 {
				first = false
				c.Set(ctxTTFT, time.Since(c.GetTime(ctxStart)))
			}
		case <-clientDone:
			leave()
		case <-drain:
			drain = nil
			stream.Close() // metadata never came: stop reading, estimate below
		}
	}

	u, reported := t.Usage()
	var tail []byte
	switch err := stream.Err(); {
	case reported:
		x.settle(usageOf(u))
		if err == nil {
			tail, err = t.End()
		}
		if err != nil {
			tail = streamErrorEvent(c, upstream.MapError(err))
		}
	case t.OutputBytes() == 0 && err != nil:
		x.settle(x.failedUsage(ctx, in)) // failed before any output: nothing to bill, unless abandoned
		tail = streamErrorEvent(c, upstream.MapError(err))
	default:
		x.settle(x.estimate(t.OutputBytes()))
		if err == nil {
			_, err = t.End() // the stream is incomplete: End says how
		}
		tail = streamErrorEvent(c, upstream.MapError(err))
	}
	if !gone {
		_ = rc.SetWriteDeadline(time.Now().Add(d.StreamWriteTimeout))
		if _, err := w.Write(tail); err == nil {
			_ = rc.Flush()
		}
	}
}
