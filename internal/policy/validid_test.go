package policy_test

import (
	"regexp"
	"strings"
	"testing"

	"github.com/tollgate-gw/tollgate/internal/policy"
)

// TestValidIDMatchesPattern: ValidID accepts exactly what the documented
// pattern accepts.
func TestValidIDMatchesPattern(t *testing.T) {
	pattern := regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$`)
	ids := []string{
		"", "a", "Z", "0", "alice", "team.eng_1-x", "-a", ".a", "_a", "a-", "a.", "a b", "a/b", "a\n",
		"\na", "é", "aé", "a\xff", "a\x00", strings.Repeat("a", 63), strings.Repeat("a", 64),
		strings.Repeat("a", 65), "A" + strings.Repeat("-", 63), "A" + strings.Repeat("-", 64), "a:b", "a+b",
	}
	for c := byte(0); c < 128; c++ {
		ids = append(ids, string([]byte{c}), "a"+string([]byte{c}))
	}
	for _, id := range ids {
		if got, want := policy.ValidID(id), pattern.MatchString(id); got != want {
			t.Errorf("ValidID(%q) = %v, want %v", id, got, want)
		}
	}
}
