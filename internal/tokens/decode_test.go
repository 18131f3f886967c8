package tokens_test

import (
	"errors"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/tollgate-gw/tollgate/internal/tokens"
)

func TestDecode(t *testing.T) {
	var c tokens.Counter
	tests := []struct {
		name    string
		ids     []int
		want    string
		wantErr *tokens.UnknownTokenError
	}{
		// Ids from OpenAI's tokenizer for cl100k_base.
		{name: "hello world", ids: []int{15339, 1917}, want: "hello world"},
		{name: "a sentence", ids: []int{791, 4062, 14198, 39935, 35308, 927, 279, 16053, 5679, 13}, want: "The quick brown fox jumps over the lazy dog."},
		{name: "token 0", ids: []int{0}, want: "!"},
		{name: "a special token", ids: []int{100257}, want: "<|endoftext|>"},
		{name: "a multi-byte character split across tokens", ids: []int{9468, 239, 233}, want: "👋"},
		{name: "no tokens", ids: nil, want: ""},
		{name: "past the vocabulary", ids: []int{15339, 200000}, wantErr: &tokens.UnknownTokenError{Index: 1, Token: 200000}},
		{name: "a gap in the vocabulary", ids: []int{100256}, wantErr: &tokens.UnknownTokenError{Index: 0, Token: 100256}},
		{name: "negative", ids: []int{-1}, wantErr: &tokens.UnknownTokenError{Index: 0, Token: -1}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := c.Decode(tt.ids)
			var unknown *tokens.UnknownTokenError
			errors.As(err, &unknown)
			if diff := cmp.Diff(tt.wantErr, unknown); diff != "" || (err != nil) != (tt.wantErr != nil) {
				t.Fatalf("err = %v (-want +got)\n%s", err, diff)
			}
			if got != tt.want {
				t.Errorf("Decode(%v) = %q, want %q", tt.ids, got, tt.want)
			}
		})
	}
}
