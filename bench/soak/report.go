package main

// The checks and the report.

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"math"
	"os"
	"slices"
	"strings"
	"time"
)

// tally counts the outcomes of one kind of request.
type tally struct {
	sent, ok, clientErrs, unexpected int
	statuses                         map[int]int
	errEvents                        map[string]int
}

// emfLine is what the soak reads of one EMF line.
type emfLine struct {
	KeyID        string  `json:"KeyId"`
	RequestID    string  `json:"RequestId"`
	InputTokens  float64 `json:"InputTokens"`
	OutputTokens float64 `json:"OutputTokens"`
	CacheRead    float64 `json:"CacheReadTokens"`
	CacheWrite   float64 `json:"CacheWriteTokens"`
	CostUSD      float64 `json:"CostUSD"`
	Status       int     `json:"Status"`
	Estimated    bool    `json:"Estimated"`
	Endpoint     string  `json:"Endpoint"`
}

type report struct {
	opts     options
	embed    bool
	embedWhy string

	outcomes        map[string]*tally
	requests        int
	injected        int
	survived        int
	unexpected5xx   int
	unexpected      []string // the first few unexpected outcomes
	clientErrs      int
	baseline, final sample
	fresh, cold     sample // before any load; idle long after it
	coldTaken       bool
	samples         []sample
	loadTime        time.Duration

	spent, reserved map[string]int64
	capLimit        int64
	emfCost         map[string]int64
	emfLines        int
	responses       int // requests that got an HTTP response (and so an id)
	missingEMF      int
	tokenMismatch   int
	seenIn, seenOut int64 // tokens the clients saw in usage
	emfIn, emfOut   int64 // the same requests' tokens in EMF lines
	estimated       int
	estimatedOut    int64
	emfTotalIn      int64
	emfTotalOut     int64

	gatewayExit string
	logErrors   int
	panics      int
}

func (rep *report) note(format string, a ...any) {
	if len(rep.unexpected) < 20 {
		rep.unexpected = append(rep.unexpected, fmt.Sprintf(format, a...))
	}
}

// add counts one result and judges it against what its kind must produce.
func (rep *report) add(res result) {
	t := rep.outcomes[res.kind]
	if t == nil {
		t = &tally{statuses: map[int]int{}, errEvents: map[string]int{}}
		rep.outcomes[res.kind] = t
	}
	rep.requests++
	t.sent++
	if res.status != 0 {
		t.statuses[res.status]++
		rep.responses++
	}
	if res.errEvent != "" {
		t.errEvents[res.errEvent]++
	}
	bad := func(why string) {
		t.unexpected++
		rep.note("%s (%s): %s; status %d, event %q, %s %s", res.kind, res.key, why, res.status, res.errEvent, res.clientErr, res.detail)
	}
	if res.clientErr != "" && res.kind != kindDisconnect {
		t.clientErrs++
		rep.clientErrs++
		bad("client error")
		return
	}
	if res.injected {
		rep.injected++
		f := res.wantFault
		switch {
		case res.status != f.status:
			bad(fmt.Sprintf("want status %d", f.status))
		case f.status == 200 && res.errEvent == "":
			bad("a broken stream ended without an error event")
		default:
			rep.survived++
			t.ok++
		}
		return
	}
	if res.status >= 500 {
		rep.unexpected5xx++
	}
	want := map[string][]int{kindCapped: {200, 429}, kindBadInput: {400}}[res.kind]
	if want == nil {
		want = []int{200}
	}
	switch {
	case !slices.Contains(want, res.status):
		bad(fmt.Sprintf("want status %v", want))
	case res.errEvent != "":
		bad("an error event without an injected fault")
	default:
		t.ok++
	}
}

// reconcile compares the clients' view, the store's and the EMF lines.
func (rep *report) reconcile(results []result, emf []emfLine) {
	rep.emfLines = len(emf)
	rep.emfCost = map[string]int64{}
	byID := make(map[string]emfLine, len(emf))
	for _, l := range emf {
		rep.emfCost[l.KeyID] += toMicros(l.CostUSD)
		byID[l.RequestID] = l
		rep.emfTotalIn += int64(l.InputTokens + l.CacheRead + l.CacheWrite)
		rep.emfTotalOut += int64(l.OutputTokens)
		if l.Estimated {
			rep.estimated++
			rep.estimatedOut += int64(l.OutputTokens)
		}
	}
	for _, res := range results {
		if res.requestID == "" {
			continue
		}
		l, ok := byID[res.requestID]
		if !ok {
			rep.missingEMF++
			rep.note("no EMF line for %s request %s", res.kind, res.requestID)
			continue
		}
		if !res.sawUsage {
			continue
		}
		in := int64(l.InputTokens + l.CacheRead + l.CacheWrite)
		out := int64(l.OutputTokens)
		rep.seenIn += res.in
		rep.seenOut += res.out
		rep.emfIn += in
		rep.emfOut += out
		if in != res.in || out != res.out || l.Estimated {
			rep.tokenMismatch++
			rep.note("%s request %s: the client saw %d+%d tokens, the EMF line %d+%d (estimated %v)", res.kind, res.requestID, res.in, res.out, in, out, l.Estimated)
		}
	}
}

func readEMF(path string) ([]emfLine, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	var lines []emfLine
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		var l emfLine
		if err := json.Unmarshal(sc.Bytes(), &l); err != nil {
			return nil, fmt.Errorf("gateway stdout line is not EMF JSON: %q", sc.Text())
		}
		lines = append(lines, l)
	}
	return lines, sc.Err()
}

func countLogLevel(path, level string) int {
	return countLog(path, func(rec map[string]any) bool { return rec["level"] == level })
}

func countLogMsg(path, msg string) int {
	return countLog(path, func(rec map[string]any) bool { return rec["msg"] == msg })
}

func countLog(path string, match func(map[string]any) bool) int {
	f, err := os.Open(path)
	if err != nil {
		return 0
	}
	defer f.Close()
	n := 0
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		var rec map[string]any
		if json.Unmarshal(sc.Bytes(), &rec) == nil && match(rec) {
			n++
		}
	}
	return n
}

// Growth allowed between the idle baseline and the idle end. Between the
// baseline and the end, both idle a few seconds, the Bedrock client may
// hold a different number of pooled connections (up to 10 per host, two
// goroutines each) so the goroutine check compares the fresh process with
// the one idle past the pool's 90 s timeout, allowing a few goroutines
// started lazily on first use; heap within noise.
const (
	goroutineSlack = 5
	poolSlack      = 2*10 + goroutineSlack
	heapSlack      = 16 << 20
)

type check struct {
	name string
	ok   bool
	got  string
}

func (rep *report) checks() []check {
	var ledger []string
	ledgerOK := true
	for _, id := range keyIDs {
		ok := rep.spent[id] == rep.emfCost[id] && rep.reserved[id] == 0
		ledgerOK = ledgerOK && ok
		ledger = append(ledger, fmt.Sprintf("%s: store %d, EMF %d, reserved %d", id, rep.spent[id], rep.emfCost[id], rep.reserved[id]))
	}
	heapGrowth := rep.final.heap - rep.baseline.heap
	return []check{
		{"no 5xx but the injected faults'", rep.unexpected5xx == 0, fmt.Sprint(rep.unexpected5xx)},
		{"every request answered as its kind must be", rep.totalUnexpected() == 0, fmt.Sprint(rep.totalUnexpected())},
		{"every injected fault answered as documented", rep.survived == rep.injected, fmt.Sprintf("%d of %d", rep.survived, rep.injected)},
		{"settled spend = Σ EMF cost per key, to the micro-dollar, nothing reserved", ledgerOK, strings.Join(ledger, "; ")},
		{"the capped key stayed under its cap", rep.capLimit >= 0 && rep.spent["soak-capped"] <= rep.capLimit,
			fmt.Sprintf("%d of %d micro-USD", rep.spent["soak-capped"], rep.capLimit)},
		{"one EMF line per answered request", rep.missingEMF == 0 && rep.emfLines >= rep.responses, fmt.Sprintf("%d lines, %d answered, %d missing", rep.emfLines, rep.responses, rep.missingEMF)},
		{"tokens the clients saw = tokens metered, request by request", rep.tokenMismatch == 0 && rep.seenIn == rep.emfIn && rep.seenOut == rep.emfOut,
			fmt.Sprintf("input %d/%d, output %d/%d, %d mismatches", rep.seenIn, rep.emfIn, rep.seenOut, rep.emfOut, rep.tokenMismatch)},
		rep.goroutineCheck(),
		{"no heap growth", heapGrowth <= math.Max(heapSlack, rep.baseline.heap/2),
			fmt.Sprintf("%.1f → %.1f MiB", rep.baseline.heap/(1<<20), rep.final.heap/(1<<20))},
		{"no panic logged", rep.panics == 0, fmt.Sprint(rep.panics)},
		{"clean shutdown", rep.gatewayExit == "exit status 0", rep.gatewayExit},
	}
}

func (rep *report) goroutineCheck() check {
	if rep.coldTaken {
		return check{"no goroutine growth (fresh process vs idle 95 s after the load)", rep.cold.goroutines <= rep.fresh.goroutines+goroutineSlack,
			fmt.Sprintf("%.0f → %.0f (idle after warm-up %.0f, right after the load %.0f)", rep.fresh.goroutines, rep.cold.goroutines, rep.baseline.goroutines, rep.final.goroutines)}
	}
	return check{"no goroutine growth (idle after warm-up vs right after the load, ±pooled connections)", rep.final.goroutines <= rep.baseline.goroutines+poolSlack,
		fmt.Sprintf("%.0f → %.0f", rep.baseline.goroutines, rep.final.goroutines)}
}

func (rep *report) totalUnexpected() int {
	n := 0
	for _, t := range rep.outcomes {
		n += t.unexpected
	}
	return n
}

func (rep *report) ok() bool {
	for _, c := range rep.checks() {
		if !c.ok {
			return false
		}
	}
	return true
}

func (rep *report) print(w io.Writer) {
	o := rep.opts
	fmt.Fprintf(w, "## Soak: %s of load (after a %s warm-up), concurrency %d\n\n", rep.loadTime.Round(time.Second), o.warmup, o.concurrency)
	fmt.Fprintf(w, "%d requests in all (%.0f/s under load), %d injected faults, %d malformed bodies; embeddings: %v %s\n\n",
		rep.requests, float64(rep.final.requests-rep.baseline.requests)/rep.loadTime.Seconds(), rep.injected,
		rep.outcomes[kindBadInput].sentOrZero(), rep.embed, rep.embedWhy)
	fmt.Fprintln(w, "| request | sent | as expected | statuses | error events |")
	fmt.Fprintln(w, "|---|---:|---:|---|---|")
	kinds := make([]string, 0, len(rep.outcomes))
	for k := range rep.outcomes {
		kinds = append(kinds, k)
	}
	slices.Sort(kinds)
	for _, k := range kinds {
		t := rep.outcomes[k]
		fmt.Fprintf(w, "| %s | %d | %d | %s | %s |\n", k, t.sent, t.ok, formatCounts(t.statuses), formatCounts(t.errEvents))
	}
	fmt.Fprintln(w)
	fmt.Fprintln(w, "| gateway | fresh | idle after warm-up | peak under load | idle after load | idle after load + cold settle |")
	fmt.Fprintln(w, "|---|---:|---:|---:|---:|---:|")
	var peakG, peakH float64
	var peakR int64
	for _, s := range rep.samples {
		peakG, peakH, peakR = max(peakG, s.goroutines), max(peakH, s.heap), max(peakR, s.rss)
	}
	fmt.Fprintf(w, "| goroutines | %.0f | %.0f | %.0f | %.0f | %.0f |\n", rep.fresh.goroutines, rep.baseline.goroutines, peakG, rep.final.goroutines, rep.cold.goroutines)
	fmt.Fprintf(w, "| heap in use (MiB) | %.1f | %.1f | %.1f | %.1f | %.1f |\n", rep.fresh.heap/(1<<20), rep.baseline.heap/(1<<20), peakH/(1<<20), rep.final.heap/(1<<20), rep.cold.heap/(1<<20))
	fmt.Fprintf(w, "| RSS (MiB) | %.1f | %.1f | %.1f | %.1f | %.1f |\n\n", float64(rep.fresh.rss)/1024, float64(rep.baseline.rss)/1024, float64(peakR)/1024, float64(rep.final.rss)/1024, float64(rep.cold.rss)/1024)
	fmt.Fprintln(w, "| key | settled spend (µUSD, /v1/usage) | Σ EMF cost (µUSD) | reserved |")
	fmt.Fprintln(w, "|---|---:|---:|---:|")
	for _, id := range keyIDs {
		fmt.Fprintf(w, "| %s | %d | %d | %d |\n", id, rep.spent[id], rep.emfCost[id], rep.reserved[id])
	}
	fmt.Fprintf(w, "\nEMF lines: %d (tokens: %d input, %d output); %d estimated (broken or abandoned streams, %d output tokens).\n",
		rep.emfLines, rep.emfTotalIn, rep.emfTotalOut, rep.estimated, rep.estimatedOut)
	fmt.Fprintf(w, "Responses that reported usage: %d input and %d output tokens seen by the clients; %d and %d in their EMF lines.\n\n",
		rep.seenIn, rep.seenOut, rep.emfIn, rep.emfOut)
	fmt.Fprintln(w, "| check | ok | figures |")
	fmt.Fprintln(w, "|---|---|---|")
	for _, c := range rep.checks() {
		fmt.Fprintf(w, "| %s | %v | %s |\n", c.name, map[bool]string{true: "yes", false: "**NO**"}[c.ok], c.got)
	}
	if len(rep.unexpected) > 0 {
		fmt.Fprintln(w, "\nUnexpected outcomes (first 20):")
		for _, u := range rep.unexpected {
			fmt.Fprintln(w, "-", u)
		}
	}
	fmt.Fprintln(w, "\nSamples (time, requests, goroutines, heap MiB, RSS MiB):")
	for _, s := range rep.samples {
		fmt.Fprintf(w, "  %6s %7d %5.0f %6.1f %6.1f\n", s.at.Round(time.Second), s.requests, s.goroutines, s.heap/(1<<20), float64(s.rss)/1024)
	}
}

func (t *tally) sentOrZero() int {
	if t == nil {
		return 0
	}
	return t.sent
}

func formatCounts[K comparable](m map[K]int) string {
	parts := make([]string, 0, len(m))
	for k, v := range m {
		parts = append(parts, fmt.Sprintf("%v×%d", k, v))
	}
	slices.Sort(parts)
	return strings.Join(parts, " ")
}
