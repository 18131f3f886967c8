package jsonstr_test

import (
	"bytes"
	"encoding/json"
	"strings"
	"testing"

	"github.com/tollgate-gw/tollgate/internal/jsonstr"
)

func TestAppend(t *testing.T) {
	for _, s := range []string{
		"plain", `quo"te`, `back\slash`, "new\nline\r\t", "\x00\x01\x1f\x7f", "héllo wörld ✓ 😀",
		"bad\xffutf8\xc3", "sep\u2028\u2029", "</script>", "",
	} {
		got := jsonstr.Append(nil, s)
		var back string
		if err := json.Unmarshal(got, &back); err != nil {
			t.Errorf("Append(%q) = %s: not JSON: %v", s, got, err)
			continue
		}
		want := strings.ToValidUTF8(s, "\uFFFD")
		if s == "bad\xffutf8\xc3" {
			want = "bad\uFFFDutf8\uFFFD"
		}
		if back != want {
			t.Errorf("Append(%q) reads back as %q, want %q", s, back, want)
		}
		if bytes.ContainsAny(got, "\n\r\u2028\u2029") {
			t.Errorf("Append(%q) = %s: holds a line separator", s, got)
		}
	}
	if got := string(jsonstr.Append([]byte("x:"), "<a&b>")); got != `x:"<a&b>"` {
		t.Errorf("Append escapes HTML or loses dst: %s", got)
	}
}
