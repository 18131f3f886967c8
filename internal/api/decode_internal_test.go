package api

import (
	"bytes"
	"errors"
	"net/http/httptest"
	"strings"
	"testing"
	"testing/iotest"

	"github.com/gin-gonic/gin"
	"github.com/google/go-cmp/cmp"

	"github.com/tollgate-gw/tollgate"
)

func TestIsJSONType(t *testing.T) {
	for ct, want := range map[string]bool{
		"application/json":                  true,
		"application/json; charset=utf-8":   true,
		"application/json;charset=utf-8":    true,
		"Application/JSON":                  true,
		"application/json; charset=latin1":  true,
		"application/vnd.api+json":          true,
		"application/merge-patch+json; q=1": true,
		"":                                  false,
		"text/plain":                        false,
		"application/jsonx":                 false,
		"application/json; charset":         false, // not a valid media type
		"+json":                             false,
	} {
		if got := isJSONType(ct); got != want {
			t.Errorf("isJSONType(%q) = %v, want %v", ct, got, want)
		}
	}
}

// TestReadAll: whatever length the client declared, readAll returns exactly
// the bytes of the body, as io.ReadAll does.
func TestReadAll(t *testing.T) {
	body := []byte(strings.Repeat(`{"k":"v"}`, 100))
	for _, declared := range []int64{-1, 0, 1, 899, 900, 901, 5000, maxPresize + 1} {
		got, err := readAll(bytes.NewReader(body), declared)
		if err != nil || !bytes.Equal(got, body) {
			t.Errorf("declared %d: got %d bytes, %v; want %d bytes", declared, len(got), err, len(body))
		}
		got, err = readAll(iotest.OneByteReader(bytes.NewReader(body)), declared)
		if err != nil || !bytes.Equal(got, body) {
			t.Errorf("one byte at a time, declared %d: got %d bytes, %v", declared, len(got), err)
		}
	}
	if _, err := readAll(iotest.ErrReader(iotest.ErrTimeout), 10); err != iotest.ErrTimeout {
		t.Errorf("a failing reader: error %v, want %v", err, iotest.ErrTimeout)
	}
}

// TestReadJSONBodyUTF8: a JSON body that is not valid UTF-8 is refused with
// a 400 naming the problem and where it is (RFC 8259 section 8.1), rather
// than read with its bytes replaced by U+FFFD (issue 13, point 9).
func TestReadJSONBodyUTF8(t *testing.T) {
	tests := []struct {
		name, body string
		wantErr    string // "" when the body is accepted
	}{
		{"ASCII", `{"model":"m"}`, ""},
		{"UTF-8", `{"content":"héllo, 世界, 🙂"}`, ""},
		{"escaped lone surrogate", `{"content":"\ud800"}`, ""}, // valid JSON text; the string's own business
		{"Latin-1 byte", "{\"content\":\"h\xe9llo\"}", "invalid_encoding: The request body is not valid UTF-8 (at byte 13). JSON must be sent as UTF-8 (RFC 8259): re-encode the text, or escape non-ASCII characters as \\uXXXX."},
		{"truncated sequence", "{\"content\":\"\xe4\xb8\"}", "invalid_encoding: The request body is not valid UTF-8 (at byte 12). JSON must be sent as UTF-8 (RFC 8259): re-encode the text, or escape non-ASCII characters as \\uXXXX."},
		{"encoded surrogate", "{\"content\":\"\xed\xa0\x80\"}", "invalid_encoding: The request body is not valid UTF-8 (at byte 12). JSON must be sent as UTF-8 (RFC 8259): re-encode the text, or escape non-ASCII characters as \\uXXXX."},
		{"overlong slash", "{\"model\":\"\xc0\xaf\"}", "invalid_encoding: The request body is not valid UTF-8 (at byte 10). JSON must be sent as UTF-8 (RFC 8259): re-encode the text, or escape non-ASCII characters as \\uXXXX."},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			w := httptest.NewRecorder()
			c, _ := gin.CreateTestContext(w)
			c.Request = httptest.NewRequest("POST", "/v1/chat/completions", strings.NewReader(tt.body))
			c.Request.Header.Set("Content-Type", "application/json")
			body, err := readJSONBody(c, 1<<20, 0)
			got := ""
			if err != nil {
				var te *tollgate.Error
				if !errors.As(err, &te) || te.Kind != tollgate.Invalid {
					t.Fatalf("error %v is not a tollgate.Invalid", err)
				}
				got = te.Code + ": " + te.Message
			} else if string(body) != tt.body {
				t.Errorf("body = %q, want %q", body, tt.body)
			}
			if diff := cmp.Diff(tt.wantErr, got); diff != "" {
				t.Errorf("readJSONBody error (-want +got):\n%s", diff)
			}
		})
	}
}
