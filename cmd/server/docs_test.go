package main

import (
	"context"
	"flag"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"
)

// docOrigin is where the documentation's examples reach the gateway.
const docOrigin = "http://127.0.0.1:8080"

// codeBlocks returns the fenced blocks of a language in a markdown file of
// the repository.
func codeBlocks(t *testing.T, file, lang string) []string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("..", "..", file))
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, m := range regexp.MustCompile("(?s)```"+lang+"\n(.*?)```").FindAllStringSubmatch(string(b), -1) {
		out = append(out, m[1])
	}
	return out
}

// TestDocGoExamples builds and runs every Go example of README.md and
// docs/clients.md against a gateway on its simulator, as a reader would
// paste it (the curl and JavaScript ones run in tests/clients).
func TestDocGoExamples(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the examples")
	}
	var blocks []string
	for _, f := range []string{"README.md", "docs/clients.md"} {
		blocks = append(blocks, codeBlocks(t, f, "go")...)
	}
	if len(blocks) == 0 {
		t.Fatal("no Go example in README.md or docs/clients.md")
	}
	g := startGateway(t, nil, "-sim", "-policies", t.TempDir(), "-store", "memory://")
	for i, code := range blocks {
		t.Run(strings.Fields(code)[1]+"#"+string(rune('1'+i)), func(t *testing.T) {
			// Inside the module, so that its go.mod resolves the imports; a
			// dot directory is outside ./... .
			dir, err := os.MkdirTemp(".", ".doc-example-")
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { os.RemoveAll(dir) })
			src := strings.ReplaceAll(code, docOrigin, g.baseURL)
			if err := os.WriteFile(filepath.Join(dir, "main.go"), []byte(src), 0o644); err != nil {
				t.Fatal(err)
			}
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
			defer cancel()
			bin := filepath.Join(t.TempDir(), "example")
			if out, err := exec.CommandContext(ctx, "go", "build", "-o", bin, "./"+dir).CombinedOutput(); err != nil {
				t.Fatalf("go build: %v\n%s\n%s", err, out, code)
			}
			out, err := exec.CommandContext(ctx, bin).CombinedOutput()
			if err != nil {
				t.Fatalf("run: %v\n%s", err, out)
			}
			if !strings.Contains(string(out), "simulated reply") {
				t.Errorf("output:\n%s", out)
			}
		})
	}
}

// TestReadmeCommandLine checks that the README's command-line section and
// the binary agree: every flag and environment variable in its table is
// serve's, and every flag of serve is in the table; every command the
// binary has is named in the README as `tollgate NAME`, and every
// `tollgate NAME` in the README is a command.
func TestReadmeCommandLine(t *testing.T) {
	readme, err := os.ReadFile("../../README.md")
	if err != nil {
		t.Fatal(err)
	}
	inv := &invocation{cmd: find(commands(), "serve"), getenv: env(), stdout: &strings.Builder{}, stderr: &strings.Builder{}}
	if _, err := parseServe(inv); err != nil {
		t.Fatal(err)
	}
	flags := map[string]string{} // name → usage
	inv.fs.VisitAll(func(f *flag.Flag) { flags[f.Name] = f.Usage })

	rows := regexp.MustCompile("(?m)^\\| `-([a-z0-9-]+)` \\| `([A-Z0-9_]+)[=`]").FindAllStringSubmatch(string(readme), -1)
	if len(rows) < 10 {
		t.Fatalf("found %d flag rows in the README's table", len(rows))
	}
	inTable := map[string]bool{}
	for _, r := range rows {
		name, envVar := r[1], r[2]
		inTable[name] = true
		usage, ok := flags[name]
		if !ok {
			t.Errorf("README: -%s is not a flag of tollgate serve", name)
			continue
		}
		if !strings.Contains(usage, envVar) {
			t.Errorf("README: -%s falls back to %s, but the flag says: %s", name, envVar, usage)
		}
	}
	for name := range flags {
		if !inTable[name] {
			t.Errorf("tollgate serve -%s is missing from the README's table", name)
		}
	}

	var names []string
	for _, c := range commands() {
		names = append(names, c.name)
		if !strings.Contains(string(readme), "tollgate "+c.name) {
			t.Errorf("README never names `tollgate %s`", c.name)
		}
	}
	for _, m := range regexp.MustCompile("`(?:\\$tollgate|tollgate) ([a-z]+(?: [a-z]+)?)").FindAllStringSubmatch(string(readme), -1) {
		words := strings.Fields(m[1])
		if !slices.Contains(names, m[1]) && !slices.Contains(names, words[0]) {
			t.Errorf("README names `tollgate %s`, which is no command", m[1])
		}
	}
}
