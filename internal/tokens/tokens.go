// Package tokens estimates how many tokens a text costs, for budget
// reservations made before Bedrock has counted them.
//
// Two estimates, for two uses:
//   - [Bound] is free: a token is at least one byte for every tokenizer the
//     Bedrock models use (byte-level BPE), so a text never costs more tokens
//     than it has bytes. It is the hot path's bound, about four times the
//     real count for English.
//   - [Count] tokenizes with OpenAI's cl100k_base (tiktoken), loaded offline
//     from the binary on first use (about 100 ms and 12 MB, so never at start
//     and never in the hot path), then multiplied by [Margin]: Claude's and
//     Llama's tokenizers split text differently from cl100k, by up to a fifth
//     more tokens in our measurements of English and code. It is never below
//     a token per [BytesPerToken] bytes: cl100k packs common English words
//     into single tokens of 5 to 8 bytes, which a finer tokenizer may split.
package tokens

import (
	"math"
	"sync"

	"github.com/pkoukk/tiktoken-go"
	tiktokenloader "github.com/pkoukk/tiktoken-go-loader"
)

// Margin is the factor applied to a cl100k count to cover tokenizers that
// split more finely.
const Margin = 1.25

// BytesPerToken is the fewest tokens Count gives a text: one per this many
// bytes, rounded up. The Bedrock simulator bills text at this rate, and
// Claude's tokenizer comes close to it on English prose.
const BytesPerToken = 4

// Bound returns an upper bound of the tokens of a text of n bytes.
func Bound(n int) int { return n }

// Counter counts tokens with cl100k_base. The zero value is ready to use;
// the encoding loads on the first Count. It is safe for concurrent use.
type Counter struct {
	once sync.Once
	enc  *tiktoken.Tiktoken
	err  error
}

// Count returns the estimated tokens of the texts: for each, its cl100k
// count with Margin applied and rounded up, and at least its bytes /
// BytesPerToken, rounded up. If the encoding cannot be loaded it falls back
// to Bound, so an estimate is never lower than it should be.
func (c *Counter) Count(texts ...string) int {
	c.once.Do(c.load)
	total := 0
	for _, t := range texts {
		if c.err != nil {
			total += Bound(len(t))
			continue
		}
		n := len(c.enc.EncodeOrdinary(t))
		total += max(int(math.Ceil(float64(n)*Margin)), (len(t)+BytesPerToken-1)/BytesPerToken)
	}
	return total
}

func (c *Counter) load() {
	// tiktoken-go keeps its loader in a package variable; the offline loader
	// reads the encodings embedded in the binary, never the network.
	tiktoken.SetBpeLoader(tiktokenloader.NewOfflineLoader())
	c.enc, c.err = tiktoken.GetEncoding(tiktoken.MODEL_CL100K_BASE)
}
