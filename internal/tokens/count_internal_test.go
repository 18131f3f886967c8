package tokens

import (
	"math"
	"math/rand/v2"
	"strings"
	"syscall"
	"testing"
	"time"
)

// wholeCount is Count without pieces or a byte budget: tiktoken over the
// whole text, as the gateway counted before issue 13.
func wholeCount(c *Counter, text string) int {
	c.once.Do(c.load)
	return int(math.Ceil(float64(len(c.enc.EncodeOrdinary(text))) * Margin))
}

// randomText mixes the character classes cl100k's pre-tokenizer tells apart.
func randomText(r *rand.Rand, n int) string {
	classes := []string{
		"abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ",
		"0123456789",
		" ", "  ", "\n", "\r\n", "\t",
		"=-_+*/\\|{}[]()<>.,;:!?'\"`~@#$%^&",
		"éàüßçñøåæœ", "世界你好这是一个测试", "こんにちは", "🙂🚀👍🏽", "Ωπλ",
	}
	var b strings.Builder
	for b.Len() < n {
		class := []rune(classes[r.IntN(len(classes))])
		for range 1 + r.IntN(12) {
			b.WriteRune(class[r.IntN(len(class))])
		}
	}
	return b.String()
}

// TestCountChunkedNotBelowWhole: counting in pieces never counts fewer
// tokens than tokenizing the whole text would (so reservations stay upper
// bounds), for prose, code, runs of one character and random mixes of every
// character class (issue 13, point 3a).
func TestCountChunkedNotBelowWhole(t *testing.T) {
	var c Counter
	texts := map[string]string{
		"prose":      strings.Repeat("Budgets are a hard bound, and the gateway never undercounts them. ", 60),
		"code":       strings.Repeat("func (c *Counter) Count(texts ...string) int {\n\treturn len(texts) // x\n}\n", 40),
		"equals":     strings.Repeat("=", 3000),
		"letters":    strings.Repeat("a", 3000),
		"digits":     strings.Repeat("1234567890", 300),
		"spaces":     strings.Repeat(" ", 3000),
		"newlines":   strings.Repeat("\r\n", 1500),
		"cjk":        strings.Repeat("世界你好，这是一个测试。", 100),
		"emoji":      strings.Repeat("🙂👍🏽", 300),
		"base64":     strings.Repeat("iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNkYPhfDwAChwGA60e6kgAAAABJRU5ErkJggg==", 30),
		"long words": strings.Repeat("supercalifragilisticexpialidocious"+strings.Repeat("x", 200)+" ", 12),
	}
	r := rand.New(rand.NewPCG(13, 3))
	for i := range 200 {
		texts["random "+string(rune('A'+i%26))+string(rune('a'+i/26))] = randomText(r, 64+r.IntN(3000))
	}
	for name, text := range texts {
		if got, whole := c.Count(text), wholeCount(&c, text); got < whole {
			t.Errorf("%s (%d bytes): Count = %d, below the whole text's %d", name, len(text), got, whole)
		}
	}
}

// TestCountIsBounded: past PreciseBytes the texts are counted at the byte
// bound, so the count stays an upper bound and its work stays bounded.
func TestCountIsBounded(t *testing.T) {
	var c Counter
	prose := strings.Repeat("Budgets are a hard bound. ", PreciseBytes/26+1)[:PreciseBytes]
	tail := strings.Repeat("x", 1000)
	tests := []struct {
		name  string
		texts []string
		want  int
	}{
		{"within", []string{prose}, c.Count(prose)},
		{"one text past it", []string{prose + tail}, c.Count(prose) + len(tail)},
		{"a second text past it", []string{prose, tail}, c.Count(prose) + len(tail)},
	}
	for _, tt := range tests {
		if got := c.Count(tt.texts...); got != tt.want {
			t.Errorf("%s: Count = %d, want %d", tt.name, got, tt.want)
		}
	}
	// A multi-byte character straddling the budget is not split.
	head := strings.Repeat("a", PreciseBytes-1)
	if got, want := c.Count(head+"世界"), c.Count(head)+len("世界"); got != want {
		t.Errorf("Count across the budget = %d, want %d", got, want)
	}
}

// BenchmarkCountHostile is the pre-admission work of the texts of issue 13's
// attack (megabytes of one character, which took seconds to count whole):
// ns/op over MB/s gives the CPU per MB, which must stay under 50 ms.
func BenchmarkCountHostile(b *testing.B) {
	var c Counter
	c.Count("warm up")
	for _, tt := range []struct {
		name string
		text string
	}{
		{"equals-1MB", strings.Repeat("=", 1<<20)},
		{"prose-1MB", strings.Repeat("Budgets are a hard bound. ", (1<<20)/26)},
		{"random-1MB", randomText(rand.New(rand.NewPCG(1, 2)), 1<<20)},
	} {
		b.Run(tt.name, func(b *testing.B) {
			b.SetBytes(int64(len(tt.text)))
			cpu0 := cpuTime()
			for b.Loop() {
				c.Count(tt.text)
			}
			// CPU time, not wall time: the figure must not depend on what
			// else the machine runs.
			b.ReportMetric(float64((cpuTime()-cpu0).Microseconds())/1e3/float64(b.N)/(float64(len(tt.text))/(1<<20)), "cpu-ms/MB")
		})
	}
}

// cpuTime is the CPU time the process has used (user and system).
func cpuTime() time.Duration {
	var ru syscall.Rusage
	_ = syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
