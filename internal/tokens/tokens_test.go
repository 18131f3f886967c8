package tokens_test

import (
	"strings"
	"testing"

	"github.com/tollgate-gw/tollgate/internal/tokens"
)

func TestCountIsBetweenRealAndBound(t *testing.T) {
	var c tokens.Counter
	tests := []struct {
		name string
		text string
		// cl100k's own count, from OpenAI's tokenizer
		cl100k int
	}{
		{"empty", "", 0},
		{"hello", "hello world", 2},
		{"sentence", "The quick brown fox jumps over the lazy dog.", 10},
		{"tiktoken README", "tiktoken is great!", 6},
		// cl100k packs each word in one token: 1.25 x 4 tokens are fewer
		// than a token per 4 bytes
		{"long words", "international configuration implementation responsibility", 4},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := c.Count(tt.text)
			want := max(int(float64(tt.cl100k)*tokens.Margin+0.999), (len(tt.text)+tokens.BytesPerToken-1)/tokens.BytesPerToken)
			if got != want {
				t.Errorf("Count(%q) = %d, want %d (cl100k %d x margin, at least a token per %d bytes)", tt.text, got, want, tt.cl100k, tokens.BytesPerToken)
			}
			if got > tokens.Bound(len(tt.text)) && tt.text != "" {
				t.Errorf("Count(%q) = %d above the byte bound %d", tt.text, got, len(tt.text))
			}
		})
	}
	long := strings.Repeat("Budgets are a hard bound. ", 200)
	if got, bound := c.Count(long), tokens.Bound(len(long)); got >= bound/2 {
		t.Errorf("Count of English = %d, not well under the byte bound %d", got, bound)
	}
	if got := c.Count("a", "b c"); got != c.Count("a")+c.Count("b c") {
		t.Errorf("Count of several texts is not the sum: %d", got)
	}
}

func BenchmarkCount1000Tokens(b *testing.B) {
	var c tokens.Counter
	text := strings.Repeat("Budgets are a hard bound. ", 200) // ~1,000 tokens
	c.Count("warm up")
	b.ReportAllocs()
	for b.Loop() {
		c.Count(text)
	}
}
