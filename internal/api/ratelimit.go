package api

import (
	"math"
	"net/http"
	"strconv"
	"time"

	"github.com/gin-gonic/gin"

	"github.com/tollgate-gw/tollgate/internal/budget"
	"github.com/tollgate-gw/tollgate/internal/gate"
)

// rateHeaders renders a key's rate limits as OpenAI's x-ratelimit-*
// headers; a dimension without a limit gets none.
func rateHeaders(h http.Header, s budget.RateStatus) {
	for _, d := range []struct {
		name string
		dim  *budget.RateDimension
	}{{"requests", s.Requests}, {"tokens", s.Tokens}} {
		if d.dim == nil {
			continue
		}
		h.Set("x-ratelimit-limit-"+d.name, strconv.FormatInt(d.dim.Limit, 10))
		h.Set("x-ratelimit-remaining-"+d.name, strconv.FormatInt(d.dim.Remaining, 10))
		h.Set("x-ratelimit-reset-"+d.name, resetString(d.dim.Reset))
	}
}

// anthropicRateHeaders renders a key's rate limits as Anthropic's
// anthropic-ratelimit-* headers, whose reset is the RFC 3339 time the
// window frees a place; a dimension without a limit gets none.
func anthropicRateHeaders(h http.Header, s budget.RateStatus) {
	now := time.Now()
	for _, d := range []struct {
		name string
		dim  *budget.RateDimension
	}{{"requests", s.Requests}, {"tokens", s.Tokens}} {
		if d.dim == nil {
			continue
		}
		h.Set("anthropic-ratelimit-"+d.name+"-limit", strconv.FormatInt(d.dim.Limit, 10))
		h.Set("anthropic-ratelimit-"+d.name+"-remaining", strconv.FormatInt(d.dim.Remaining, 10))
		h.Set("anthropic-ratelimit-"+d.name+"-reset", now.Add(d.dim.Reset).UTC().Truncate(time.Second).Add(time.Second).Format(time.RFC3339))
	}
}

// resetString writes a duration as OpenAI's reset headers do: "1s",
// "6m0s", "12ms".
func resetString(d time.Duration) string {
	switch {
	case d <= 0:
		return "0s"
	case d < time.Second:
		return strconv.FormatInt(int64(math.Ceil(float64(d)/float64(time.Millisecond))), 10) + "ms"
	default:
		return (d + time.Second - 1).Truncate(time.Second).String()
	}
}

// rateHeaderWriter adds the exchange's rate-limit headers to the response
// head, whichever way the handler writes it (a JSON body, an error, an
// event stream): the handler decides after admission, and the headers
// must precede the status.
type rateHeaderWriter struct {
	gin.ResponseWriter
	x      *gate.Exchange
	render func(http.Header, budget.RateStatus) // rateHeaders: OpenAI's names
	done   bool
}

// renderRateHeaders makes the model request of c name its rate-limit
// headers with render instead of OpenAI's x-ratelimit-* (a front end of
// another protocol: Anthropic's anthropic-ratelimit-*). Call it before the
// response is written.
func renderRateHeaders(c *gin.Context, render func(http.Header, budget.RateStatus)) {
	if w, ok := c.Writer.(*rateHeaderWriter); ok {
		w.render = render
	}
}

func (w *rateHeaderWriter) head() {
	if w.done || w.ResponseWriter.Written() {
		return
	}
	w.done = true
	w.render(w.ResponseWriter.Header(), w.x.RateLimits())
	if m := w.x.AnsweredBy(); m != "" { // a model with fallbacks: the one that answered
		w.ResponseWriter.Header().Set("x-tollgate-model", m)
	}
}

func (w *rateHeaderWriter) WriteHeader(code int) { w.head(); w.ResponseWriter.WriteHeader(code) }

func (w *rateHeaderWriter) WriteHeaderNow() { w.head(); w.ResponseWriter.WriteHeaderNow() }

func (w *rateHeaderWriter) Write(b []byte) (int, error) { w.head(); return w.ResponseWriter.Write(b) }

func (w *rateHeaderWriter) WriteString(s string) (int, error) {
	w.head()
	return w.ResponseWriter.WriteString(s)
}

func (w *rateHeaderWriter) Flush() { w.head(); w.ResponseWriter.Flush() }

// Unwrap lets http.ResponseController reach the connection (write
// deadlines of streams).
func (w *rateHeaderWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }
