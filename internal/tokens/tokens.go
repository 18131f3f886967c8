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
//
// Count's work is bounded, whatever the text: tiktoken's byte-pair merge is
// quadratic in the length of a run without spaces (80 KB of "=" took seconds
// of CPU), so the text is tokenized in short pieces cut at spaces, and only
// the first [PreciseBytes] of a call are tokenized at all; the rest is
// counted at the byte bound.
package tokens

import (
	"math"
	"strings"
	"sync"
	"unicode/utf8"

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

// PreciseBytes is how many bytes of text one Count call tokenizes; the
// texts past it are counted by [Bound]. It bounds the CPU a request can make
// the gateway spend before it is admitted (a few milliseconds).
const PreciseBytes = 32 << 10

// Piece sizes: text is tokenized in pieces of at most maxPiece bytes, cut
// before a space or newline when one falls in the piece's second half, else
// at minPiece bytes (a run without spaces: the merge is quadratic in it).
const (
	maxPiece = 128
	minPiece = 64
)

// Count returns the estimated tokens of the texts: for each, its cl100k
// count with Margin applied and rounded up, and at least its bytes /
// BytesPerToken, rounded up. Only the first PreciseBytes of the texts are
// tokenized, in pieces (which never count fewer tokens than the whole text:
// a cut can only stop a merge); the rest is counted at the byte bound. If
// the encoding cannot be loaded it falls back to Bound, so an estimate is
// never lower than it should be.
func (c *Counter) Count(texts ...string) int {
	c.once.Do(c.load)
	total, budget := 0, PreciseBytes
	for _, t := range texts {
		if c.err != nil || budget <= 0 {
			total += Bound(len(t))
			continue
		}
		head := t
		if len(head) > budget {
			head = head[:runeStart(head, budget)]
		}
		budget -= len(head)
		n := 0
		for piece := range pieces(head) {
			n += len(c.enc.EncodeOrdinary(piece))
		}
		counted := max(int(math.Ceil(float64(n)*Margin)), (len(head)+BytesPerToken-1)/BytesPerToken)
		total += counted + Bound(len(t)-len(head))
	}
	return total
}

// pieces cuts s into pieces of at most maxPiece bytes, each cut before a
// space or newline if one falls in the second half of the piece (where
// cl100k's pre-tokenizer would cut too), else at a character boundary near
// minPiece bytes.
func pieces(s string) func(yield func(string) bool) {
	return func(yield func(string) bool) {
		for len(s) > maxPiece {
			cut := strings.LastIndexAny(s[maxPiece/2:maxPiece], " \n")
			if cut > 0 {
				cut += maxPiece / 2
			} else {
				cut = runeStart(s, minPiece)
			}
			if !yield(s[:cut]) {
				return
			}
			s = s[cut:]
		}
		if s != "" {
			yield(s)
		}
	}
}

// runeStart returns the largest i <= n that starts a UTF-8 sequence of s
// (n itself if nothing before it does), so a cut never splits a character.
func runeStart(s string, n int) int {
	for i := n; i > max(0, n-utf8.UTFMax); i-- {
		if utf8.RuneStart(s[i]) {
			return i
		}
	}
	return n
}

func (c *Counter) load() {
	// tiktoken-go keeps its loader in a package variable; the offline loader
	// reads the encodings embedded in the binary, never the network.
	tiktoken.SetBpeLoader(tiktokenloader.NewOfflineLoader())
	c.enc, c.err = tiktoken.GetEncoding(tiktoken.MODEL_CL100K_BASE)
}
