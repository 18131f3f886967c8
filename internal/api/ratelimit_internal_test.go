package api

import (
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/gin-gonic/gin"

	"github.com/tollgate-gw/tollgate/internal/budget"
	"github.com/tollgate-gw/tollgate/internal/gate"
)

// TestRenderRateHeaders: another protocol's front end names the headers its
// own way, and they precede the status however the handler writes.
func TestRenderRateHeaders(t *testing.T) {
	gin.SetMode(gin.TestMode)
	rec := httptest.NewRecorder()
	c, _ := gin.CreateTestContext(rec)
	x := gate.New(gate.Config{}).Open(gate.Caller{}, "test")
	c.Writer = &rateHeaderWriter{ResponseWriter: c.Writer, x: x, render: rateHeaders}
	renderRateHeaders(c, func(h http.Header, _ budget.RateStatus) { h.Set("anthropic-ratelimit-requests-limit", "7") })
	c.String(http.StatusTeapot, "x")
	if got := rec.Header().Get("anthropic-ratelimit-requests-limit"); got != "7" || rec.Code != http.StatusTeapot {
		t.Fatalf("status %d, header %q; want 418 and the front end's own header", rec.Code, got)
	}
}

func TestResetString(t *testing.T) {
	for d, want := range map[time.Duration]string{0: "0s", 250 * time.Millisecond: "250ms", 1500 * time.Millisecond: "2s", time.Minute: "1m0s", 59*time.Second + time.Millisecond: "1m0s"} {
		if got := resetString(d); got != want {
			t.Errorf("resetString(%v) = %q, want %q", d, got, want)
		}
	}
}
