// Command testreport turns `go test -json` on stdin into a run one can
// follow: a line per package as it finishes (tests passed, failed, skipped,
// seconds), the output of each failed test at once, and a summary at the
// end. It exits 1 when a test or a package failed (a build error included).
//
//	go test -json ./... | go run ./tests/testreport
package main

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"sort"
	"strings"
	"time"
)

// event is one line of `go test -json` (cmd/test2json).
type event struct {
	Action  string
	Package string
	Test    string
	Elapsed float64
	Output  string
}

type pkgState struct {
	passed, failed, skipped int
	output                  []line // of the tests not yet passed
}

type line struct{ test, text string }

// outputOf returns the lines of test and its subtests ("": all lines), and
// forgets them.
func (p *pkgState) outputOf(test string) string {
	var b strings.Builder
	kept := p.output[:0]
	for _, l := range p.output {
		if test == "" || l.test == test || strings.HasPrefix(l.test, test+"/") {
			b.WriteString(l.text)
		} else {
			kept = append(kept, l)
		}
	}
	p.output = kept
	return b.String()
}

func main() {
	os.Exit(report(os.Stdin, os.Stdout, time.Now))
}

func report(in io.Reader, out io.Writer, now func() time.Time) int {
	start := now()
	pkgs := map[string]*pkgState{}
	state := func(name string) *pkgState {
		p, ok := pkgs[name]
		if !ok {
			p = &pkgState{}
			pkgs[name] = p
		}
		return p
	}
	var failedPkgs, okPkgs, noTests []string
	var totals [3]int
	sc := bufio.NewScanner(in)
	sc.Buffer(make([]byte, 1<<20), 16<<20)
	for sc.Scan() {
		raw := sc.Bytes()
		var e event
		if json.Unmarshal(raw, &e) != nil || e.Action == "" {
			fmt.Fprintln(out, string(raw)) // not an event: printed as is
			continue
		}
		p := state(e.Package)
		switch e.Action {
		case "output":
			p.output = append(p.output, line{e.Test, e.Output})
		case "build-output": // a compiler error: at once
			fmt.Fprint(out, e.Output)
		case "pass", "fail", "skip":
			if e.Test != "" {
				switch e.Action {
				case "pass":
					p.passed++
				case "skip":
					p.skipped++
				case "fail":
					p.failed++
				}
				switch {
				case strings.Contains(e.Test, "/"): // its parent prints or drops its output
				case e.Action == "fail":
					fmt.Fprintf(out, "--- FAIL %s %s\n%s", short(e.Package), e.Test, p.outputOf(e.Test))
				default:
					p.outputOf(e.Test)
				}
				continue
			}
			// The package is done.
			totals[0] += p.passed
			totals[1] += p.failed
			totals[2] += p.skipped
			counts := fmt.Sprintf("%d passed", p.passed)
			if p.failed > 0 {
				counts += fmt.Sprintf(", %d failed", p.failed)
			}
			if p.skipped > 0 {
				counts += fmt.Sprintf(", %d skipped", p.skipped)
			}
			switch {
			case e.Action == "fail":
				failedPkgs = append(failedPkgs, e.Package)
				fmt.Fprintf(out, "FAIL  %-40s %6.1fs  %s\n", short(e.Package), e.Elapsed, counts)
				if p.failed == 0 { // a panic, a timeout, TestMain or a build failure
					fmt.Fprint(out, p.outputOf(""))
				}
			case p.passed+p.failed+p.skipped == 0:
				noTests = append(noTests, e.Package)
			default:
				okPkgs = append(okPkgs, e.Package)
				fmt.Fprintf(out, "ok    %-40s %6.1fs  %s\n", short(e.Package), e.Elapsed, counts)
			}
		}
	}
	if err := sc.Err(); err != nil {
		fmt.Fprintln(out, "testreport: reading go test -json:", err)
		return 1
	}
	sort.Strings(failedPkgs)
	fmt.Fprintf(out, "\nGo tests: %d passed, %d failed, %d skipped in %d packages (%d without tests), %s\n",
		totals[0], totals[1], totals[2], len(okPkgs)+len(failedPkgs), len(noTests), now().Sub(start).Round(time.Second))
	for _, name := range failedPkgs {
		fmt.Fprintf(out, "  FAILED: %s\n", name)
	}
	if len(failedPkgs) > 0 {
		return 1
	}
	return 0
}

// short drops the module path from a package name.
func short(pkg string) string {
	if i := strings.Index(pkg, "/tollgate/"); i >= 0 {
		return pkg[i+len("/tollgate/"):]
	}
	return pkg
}
