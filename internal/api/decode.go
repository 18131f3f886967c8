package api

import (
	"errors"
	"io"
	"mime"
	"net/http"
	"os"
	"time"
	"unicode/utf8"

	"github.com/gin-gonic/gin"

	"github.com/tollgate-gw/tollgate"
)

// readJSONBody reads a request body that must be JSON and at most max bytes,
// within the item bounds of every body and of the route (limitItems).
func readJSONBody(c *gin.Context, max int64, timeout time.Duration) ([]byte, error) {
	ct := c.GetHeader("Content-Type")
	if !isJSONType(ct) {
		return nil, tollgate.Errorf(tollgate.Invalid, "invalid_content_type", "Content-Type",
			"Content-Type must be application/json, got %q. Send the request body as JSON with the header Content-Type: application/json.", ct)
	}
	if c.Request.ContentLength > max {
		return nil, tooLarge(max)
	}
	// A client that sends its body slower than anyone would must not hold a
	// handler: the deadline covers the body only, not the response (a long
	// stream), and is lifted once the body is in.
	rc := http.NewResponseController(c.Writer)
	if timeout > 0 {
		_ = rc.SetReadDeadline(time.Now().Add(timeout))
	}
	body, err := readAll(http.MaxBytesReader(c.Writer, c.Request.Body, max), c.Request.ContentLength)
	if err == nil && timeout > 0 {
		_ = rc.SetReadDeadline(time.Time{})
	}
	if err != nil {
		var mbe *http.MaxBytesError
		if errors.As(err, &mbe) {
			return nil, tooLarge(max)
		}
		if errors.Is(err, os.ErrDeadlineExceeded) {
			// The deadline stays: net/http drains what is left of the body
			// after the handler, and must not wait for it for ever.
			c.Header("Connection", "close")
			return nil, tollgate.Errorf(tollgate.RequestTimeout, "request_timeout", "",
				"The request body did not arrive within %s. Send the whole body at once.", timeout)
		}
		return nil, tollgate.Errorf(tollgate.Invalid, "invalid_body", "", "Could not read the request body: the connection failed before it was complete.")
	}
	if !utf8.Valid(body) {
		// Decoding would replace the bad bytes with U+FFFD and answer a
		// request the client did not send.
		return nil, tollgate.Errorf(tollgate.Invalid, "invalid_encoding", "",
			"The request body is not valid UTF-8 (at byte %d). JSON must be sent as UTF-8 (RFC 8259): re-encode the text, or escape non-ASCII characters as \\uXXXX.", invalidUTF8At(body))
	}
	// Items are counted before anything is decoded: decoding many small
	// items costs many times their bytes (items.go).
	if err := checkItems(body, itemsOf(c)); err != nil {
		return nil, err
	}
	return body, nil
}

// invalidUTF8At returns the offset of the first byte of b that is not part
// of a valid UTF-8 sequence.
func invalidUTF8At(b []byte) int {
	for i := 0; i < len(b); {
		r, n := utf8.DecodeRune(b[i:])
		if r == utf8.RuneError && n == 1 {
			return i
		}
		i += n
	}
	return len(b)
}

// isJSONType tells whether a Content-Type is JSON: application/json or a
// +json type, with or without parameters.
func isJSONType(ct string) bool {
	switch ct {
	case "application/json", "application/json; charset=utf-8", "application/json;charset=utf-8":
		return true // what clients send, without parsing
	}
	mt, _, err := mime.ParseMediaType(ct)
	return err == nil && (mt == "application/json" || (len(mt) > 5 && mt[len(mt)-5:] == "+json"))
}

// readAll reads r to its end into a buffer sized for the declared length
// (when there is one), so a body is read without regrowing the buffer. A
// declared length past maxPresize is believed only as the bytes arrive:
// the buffer doubles until an eighth of it is in, then takes the declared
// size at once, so that reading allocates less than 1.5 times the body
// (doubling all the way would allocate twice), and a client that declares
// much and sends little makes the gateway allocate at most 8 times what it
// sent (and never more than the body limit).
func readAll(r io.Reader, declared int64) ([]byte, error) {
	if declared <= 0 {
		return io.ReadAll(r)
	}
	b := make([]byte, 0, min(declared, maxPresize)+1) // +1: reading EOF needs no growth
	for {
		n, err := r.Read(b[len(b):cap(b)])
		b = b[:len(b)+n]
		if err == io.EOF {
			return b, nil
		}
		if err != nil {
			return b, err
		}
		if len(b) == cap(b) { // longer than declared: net/http fails the read before this
			size := int64(2 * cap(b))
			if int64(len(b)) >= declared/8 || size > declared {
				size = max(declared+1, int64(cap(b))+1)
			}
			b = append(make([]byte, 0, size), b...)
		}
	}
}

// maxPresize bounds the buffer allocated on a client's word alone.
const maxPresize = 1 << 20

func tooLarge(max int64) error {
	return tollgate.Errorf(tollgate.TooLarge, "request_too_large", "",
		"The request body is larger than the %d MiB this gateway accepts. Send fewer or smaller images or documents.", max>>20)
}
