package api

import (
	"net/http"

	"github.com/aws/aws-sdk-go-v2/service/bedrockruntime"
	"github.com/gin-gonic/gin"

	"github.com/tollgate-gw/tollgate/internal/converse"
	"github.com/tollgate-gw/tollgate/internal/upstream"
)

// streamChat relays a ConverseStream as OpenAI server-sent events, flushing
// each chunk as it is produced. A failure before the first byte is an
// ordinary error response; after it, an error event ends the stream.
func streamChat(c *gin.Context, d Deps, in *bedrockruntime.ConverseInput, meta converse.Meta, includeUsage bool) {
	ctx := c.Request.Context()
	stream, err := d.Bedrock.ConverseStream(ctx, in)
	if err != nil {
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
	t := converse.NewStream(meta, includeUsage)
	for ev := range stream.Events() {
		if b := t.Event(ev); len(b) > 0 {
			if _, err := w.Write(b); err != nil {
				return // the client went away
			}
			w.Flush()
		}
	}
	var tail []byte
	if err := stream.Err(); err != nil {
		tail = streamErrorEvent(c, upstream.MapError(err))
	} else if tail, err = t.End(); err != nil {
		tail = streamErrorEvent(c, err)
	}
	_, _ = w.Write(tail)
	w.Flush()
}
