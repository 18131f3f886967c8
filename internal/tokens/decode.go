package tokens

import (
	"fmt"
	"strings"
)

// UnknownTokenError reports a token id that cl100k_base does not define.
type UnknownTokenError struct {
	Index int // position of the token in the decoded list
	Token int
}

// Error implements the error interface.
func (e *UnknownTokenError) Error() string {
	return fmt.Sprintf("%d (at index %d) is not a cl100k_base token id", e.Token, e.Index)
}

// Decode returns the text that the cl100k_base token ids encode, as OpenAI's
// embeddings endpoint reads an input given as tokens. Special tokens
// (<|endoftext|> and the like) decode to their literal text. The encoding
// loads on first use, as for Count, and is shared with it.
//
// An id cl100k_base does not define is an *UnknownTokenError. If the
// encoding cannot be loaded, the error says so and is not an
// *UnknownTokenError. Decode is safe for concurrent use.
func (c *Counter) Decode(ids []int) (string, error) {
	c.once.Do(c.load)
	if c.err != nil {
		return "", fmt.Errorf("tokens: loading cl100k_base: %w", c.err)
	}
	var b strings.Builder
	one := make([]int, 1)
	for i, id := range ids {
		one[0] = id
		// tiktoken-go skips ids it does not know; every defined id decodes
		// to at least one byte, so an empty piece is an unknown id.
		piece := c.enc.Decode(one)
		if piece == "" {
			return "", &UnknownTokenError{Index: i, Token: id}
		}
		b.WriteString(piece)
	}
	return b.String(), nil
}
