package tollgate_test

import (
	"go/ast"
	"go/parser"
	"go/token"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
)

// TestRaceFreePackages checks the Makefile's NORACE_PKGS, the packages
// `make test` runs without the race detector: their code (tests aside)
// must start no goroutine and use no sync primitive, so that the detector
// has nothing to find there. A package that gains concurrency must leave
// the list.
func TestRaceFreePackages(t *testing.T) {
	mk, err := os.ReadFile("Makefile")
	if err != nil {
		t.Fatal(err)
	}
	m := regexp.MustCompile(`(?m)^NORACE_PKGS\s*:=(.*)$`).FindSubmatch(mk)
	if m == nil {
		t.Fatal("Makefile: no NORACE_PKGS")
	}
	dirs := strings.Fields(string(m[1]))
	if len(dirs) == 0 {
		t.Fatal("Makefile: NORACE_PKGS is empty")
	}
	for _, dir := range dirs {
		files, err := filepath.Glob(filepath.Join(dir, "*.go"))
		if err != nil || len(files) == 0 {
			t.Errorf("NORACE_PKGS: %s has no Go files (%v)", dir, err)
			continue
		}
		fset := token.NewFileSet()
		for _, name := range files {
			if strings.HasSuffix(name, "_test.go") {
				continue
			}
			f, err := parser.ParseFile(fset, name, nil, 0)
			if err != nil {
				t.Fatal(err)
			}
			for _, imp := range f.Imports {
				if p, _ := strconv.Unquote(imp.Path.Value); p == "sync" || p == "sync/atomic" {
					t.Errorf("%s imports %s: take %s out of NORACE_PKGS", fset.Position(imp.Pos()), p, dir)
				}
			}
			ast.Inspect(f, func(n ast.Node) bool {
				if g, ok := n.(*ast.GoStmt); ok {
					t.Errorf("%s starts a goroutine: take %s out of NORACE_PKGS", fset.Position(g.Pos()), dir)
				}
				return true
			})
		}
	}
}
