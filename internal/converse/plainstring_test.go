package converse

import (
	"encoding/json"
	"math/rand/v2"
	"testing"
)

// TestPlainString checks the shortcut that skips decoding a JSON string
// against encoding/json, on valid JSON strings: what it returns must be what
// json.Unmarshal returns, and it must decline escapes and invalid UTF-8.
func TestPlainString(t *testing.T) {
	raws := []string{`""`, `"hi"`, ` "spaced" `, `"é ü 日本"`, `"a\"b"`, `"\u00e9"`, `"line\n"`,
		"\"bad \xff utf-8\"", "\"cut \xe6\x97\"", `"\\"`, `"/"`}
	alphabet := []string{"a", " ", "é", "\xff", "\\", "\"", "\n", "\x7f", "日", "\xe6"}
	rng := rand.New(rand.NewPCG(1, 2))
	for range 2000 {
		s := ""
		for range rng.IntN(8) {
			s += alphabet[rng.IntN(len(alphabet))]
		}
		b, _ := json.Marshal(s) // valid JSON, escaped as needed
		raws = append(raws, string(b))
		if !json.Valid([]byte(`"` + s + `"`)) {
			continue
		}
		raws = append(raws, `"`+s+`"`) // unescaped, may hold invalid UTF-8
	}
	declined := 0
	for _, raw := range raws {
		var want string
		if err := json.Unmarshal([]byte(raw), &want); err != nil {
			t.Fatalf("test input %q is not a JSON string: %v", raw, err)
		}
		got, ok := plainString([]byte(raw))
		if !ok {
			declined++
			continue
		}
		if got != want {
			t.Fatalf("plainString(%q) = %q, json.Unmarshal gives %q", raw, got, want)
		}
	}
	if declined == 0 || declined == len(raws) {
		t.Fatalf("plainString declined %d of %d inputs: the test no longer exercises both ways", declined, len(raws))
	}
}
