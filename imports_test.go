package tollgate_test

import (
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"testing"
)

// TestImports checks that the imports tell the architecture
// (docs/architecture.md): the core that owns a model call speaks no HTTP and
// no client protocol; front ends reach spend and Bedrock only through it;
// translation and the Bedrock client do not know each other.
func TestImports(t *testing.T) {
	if testing.Short() {
		t.Skip("runs go list")
	}
	const (
		mod        = "github.com/tollgate-gw/tollgate/"
		gin        = "github.com/gin-gonic/gin"
		runtimeSDK = "github.com/aws/aws-sdk-go-v2/service/bedrockruntime"
	)
	tests := []struct {
		pkg        string
		transitive bool // the package's whole dependency graph, not only its own imports
		forbidden  []string
	}{
		{".", false, []string{"net/http"}}, // the error kinds know no protocol
		{"internal/gate", true, []string{gin, mod + "internal/api", mod + "internal/converse"}},
		{"internal/gate", false, []string{"net/http"}},
		{"internal/api", false, []string{mod + "internal/usage", runtimeSDK}},
		{"internal/anthropic", false, []string{mod + "internal/usage", runtimeSDK, mod + "internal/upstream"}},
		{"internal/converse", true, []string{mod + "internal/upstream", mod + "internal/gate", gin}},
		{"internal/converse", false, []string{"net/http"}},
		{"internal/upstream", true, []string{mod + "internal/converse", mod + "internal/gate", mod + "internal/policy", mod + "internal/budget"}},
		{"internal/budget", true, []string{gin}},
		{"internal/budget", false, []string{"net/http"}},
		{"internal/modelid", true, []string{mod + "internal/policy"}},
	}
	// The check sees what it checks: the HTTP layer imports gin.
	if !slices.Contains(goList(t, "internal/api", false), gin) {
		t.Fatal("go list reports no gin import for internal/api: the check reads nothing")
	}
	for _, tt := range tests {
		deps := goList(t, tt.pkg, tt.transitive)
		for _, f := range tt.forbidden {
			if slices.Contains(deps, f) {
				how := "imports"
				if tt.transitive {
					how = "depends on"
				}
				t.Errorf("%s %s %s", tt.pkg, how, f)
			}
		}
	}
}

// goList returns the import paths pkg imports (all of its dependencies
// when transitive).
func goList(t *testing.T, pkg string, transitive bool) []string {
	t.Helper()
	args := []string{"list", "-f", `{{join .Imports "\n"}}`}
	if transitive {
		args = []string{"list", "-deps", "-f", "{{.ImportPath}}"}
	}
	cmd := exec.Command(filepath.Join(runtime.GOROOT(), "bin", "go"), append(args, "./"+pkg)...)
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("go %s ./%s: %v", strings.Join(args, " "), pkg, err)
	}
	return strings.Fields(string(out))
}
