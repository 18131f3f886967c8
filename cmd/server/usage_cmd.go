package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"net/http"
	"net/url"
	"os"
	"sort"
	"strconv"
	"strings"
	"syscall"
	"text/tabwriter"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/config"

	"github.com/tollgate-gw/tollgate/internal/budget"
	"github.com/tollgate-gw/tollgate/internal/policy"
	"github.com/tollgate-gw/tollgate/internal/usage"
	"github.com/tollgate-gw/tollgate/internal/usage/bolt"
)

// A gateway holds its bbolt file's lock while it runs, so no other process
// can read the file meanwhile. It names itself in FILE.holder, so that
// `tollgate usage` can ask it instead (through the admin listener's /usage)
// and a second gateway can say who holds the file.

// holder is the content of FILE.holder.
type holder struct {
	PID   int    `json:"pid"`
	Addr  string `json:"addr"`            // the public listener
	Admin string `json:"admin,omitempty"` // the admin listener; "" when off
}

func (h holder) String() string {
	return fmt.Sprintf("pid %d, serving on %s", h.PID, h.Addr)
}

// boltFile returns the file of a bolt:// store URL.
func boltFile(storeURL string) (string, bool) {
	file, ok := strings.CutPrefix(storeURL, "bolt://")
	return file, ok && file != ""
}

// markHolder writes FILE.holder for a bolt:// store and returns how to
// remove it; other stores need none. A failure to write is logged: the
// gateway serves all the same.
func markHolder(storeURL string, h holder, log *slog.Logger) (remove func()) {
	file, ok := boltFile(storeURL)
	if !ok {
		return func() {}
	}
	b, _ := json.Marshal(h)
	tmp := file + ".holder.tmp"
	if err := os.WriteFile(tmp, append(b, '\n'), 0o644); err != nil {
		log.Warn("cannot write the usage store's holder file; `tollgate usage` will not find this gateway", "error", err.Error())
		return func() {}
	}
	if err := os.Rename(tmp, file+".holder"); err != nil {
		log.Warn("cannot write the usage store's holder file; `tollgate usage` will not find this gateway", "error", err.Error())
		return func() {}
	}
	return func() { _ = os.Remove(file + ".holder") }
}

// readHolder returns the live process that holds file, if its holder file
// names one (a crashed gateway's file is stale: its process is gone).
func readHolder(file string) (holder, bool) {
	b, err := os.ReadFile(file + ".holder")
	if err != nil {
		return holder{}, false
	}
	var h holder
	if json.Unmarshal(b, &h) != nil || h.PID <= 0 {
		return holder{}, false
	}
	if err := syscall.Kill(h.PID, 0); err != nil && !errors.Is(err, syscall.EPERM) {
		return holder{}, false
	}
	return h, true
}

// lockedError explains a bolt store that another process holds.
func lockedError(file string) error {
	if h, ok := readHolder(file); ok {
		return fmt.Errorf("usage store %s is locked by another process (a tollgate gateway: %s): stop it, or give this one another -store", file, h)
	}
	return fmt.Errorf("usage store %s is locked by another process (one process at a time may open it): stop it, or give this one another -store", file)
}

// usageReport is what `tollgate usage --json` prints and the admin
// listener's GET /usage serves: every scope with a counter or a cap in the
// month, then the whole gateway's spend; for the current month, also a row
// for today's and this week's period of each scope capped by the day or
// the week (Period tells the rows apart). Amounts are USD; a limit and
// remaining are null where the scope has no cap (or no policy was read).
type usageReport struct {
	Period string     `json:"period"`
	Source string     `json:"source"` // where the figures come from
	Rows   []usageRow `json:"rows"`
}

type usageRow struct {
	Scope       usage.Kind `json:"scope"`
	ID          string     `json:"id"` // "(cap)" and "(total)" for the global rows
	Period      string     `json:"period"`
	SpentUSD    float64    `json:"spent_usd"`
	ReservedUSD float64    `json:"reserved_usd"`
	// EstimatedUSD is the part of spent charged at a reservation's worst
	// case, its settlement having never reached the store.
	EstimatedUSD float64  `json:"estimated_usd"`
	LimitUSD     *float64 `json:"limit_usd"`
	Remaining    *float64 `json:"remaining_usd"`
}

// Global rows: "(cap)" is the global cap's own counter, kept only when there
// is a cap; "(total)" sums every key's counter, the gateway's whole spend.
const (
	globalCapID   = "(cap)"
	globalTotalID = "(total)"
)

// newUsageReport joins the store's totals of each period (the month, and
// the current week and day when read) with the caps of p (nil: no caps
// known). Only capped teams and a capped global scope have counters; every
// key has one, so their sum is the gateway's spend.
func newUsageReport(period, source string, byPeriod map[string]map[usage.Scope]usage.Totals, p *policy.Policy) usageReport {
	totals := byPeriod[period]
	limits := map[usage.Scope]int64{}
	if p != nil {
		for _, k := range p.Keys {
			limits[usage.Scope{Kind: usage.KindKey, ID: k.ID}] = k.BudgetMicros()
		}
		for _, t := range p.Teams() {
			limits[usage.Scope{Kind: usage.KindTeam, ID: t.ID}] = t.BudgetMicros()
		}
		limits[usage.Global] = p.GlobalBudgetMicros()
	}
	scopes := map[usage.Scope]bool{}
	var sum usage.Totals
	for s, t := range totals {
		if t.Spent != 0 || t.Reserved != 0 {
			scopes[s] = true
		}
		if s.Kind == usage.KindKey {
			sum.Spent += t.Spent
			sum.Reserved += t.Reserved
			sum.Estimated += t.Estimated
		}
	}
	for s, l := range limits {
		if l != policy.Uncapped {
			scopes[s] = true
		}
	}
	r := usageReport{Period: period, Source: source, Rows: []usageRow{}}
	for s := range scopes {
		t := totals[s]
		row := usageRow{Scope: s.Kind, ID: s.ID, Period: period,
			SpentUSD: usd(t.Spent), ReservedUSD: usd(t.Reserved), EstimatedUSD: usd(t.Estimated)}
		if s.Kind == usage.KindGlobal {
			row.ID = globalCapID
		}
		if l, ok := limits[s]; ok && l != policy.Uncapped {
			lim, rem := usd(l), usd(max(0, l-t.Spent-t.Reserved))
			row.LimitUSD, row.Remaining = &lim, &rem
		}
		r.Rows = append(r.Rows, row)
	}
	r.Rows = append(r.Rows, shortPeriodRows(byPeriod, period, p)...)
	rank := map[usage.Kind]int{usage.KindKey: 0, usage.KindTeam: 1, usage.KindGlobal: 2}
	sort.SliceStable(r.Rows, func(i, j int) bool {
		a, b := r.Rows[i], r.Rows[j]
		if rank[a.Scope] != rank[b.Scope] {
			return rank[a.Scope] < rank[b.Scope]
		}
		if a.ID != b.ID {
			return a.ID < b.ID
		}
		return len(a.Period) < len(b.Period) // the month, the week, the day
	})
	if len(r.Rows) > 0 {
		r.Rows = append(r.Rows, usageRow{Scope: usage.KindGlobal, ID: globalTotalID, Period: period,
			SpentUSD: usd(sum.Spent), ReservedUSD: usd(sum.Reserved), EstimatedUSD: usd(sum.Estimated)})
	}
	return r
}

// shortPeriodRows are the rows of the weeks and days in byPeriod (other
// than month) of the scopes p caps by the week or the day.
func shortPeriodRows(byPeriod map[string]map[usage.Scope]usage.Totals, month string, p *policy.Policy) []usageRow {
	if p == nil {
		return nil
	}
	type capped struct {
		scope  usage.Scope
		limits policy.Limits
	}
	var scopes []capped
	for _, k := range p.Keys {
		scopes = append(scopes, capped{usage.Scope{Kind: usage.KindKey, ID: k.ID}, k.Limits()})
	}
	for _, t := range p.Teams() {
		scopes = append(scopes, capped{usage.Scope{Kind: usage.KindTeam, ID: t.ID}, t.Limits()})
	}
	scopes = append(scopes, capped{usage.Global, p.GlobalLimits()})
	var rows []usageRow
	for per, totals := range byPeriod {
		if per == month {
			continue
		}
		for _, c := range scopes {
			l := c.limits.Daily
			if strings.Contains(per, "W") {
				l = c.limits.Weekly
			}
			if l == policy.Uncapped {
				continue
			}
			t := totals[c.scope]
			lim, rem := usd(l), usd(max(0, l-t.Spent-t.Reserved))
			row := usageRow{Scope: c.scope.Kind, ID: c.scope.ID, Period: per, SpentUSD: usd(t.Spent), ReservedUSD: usd(t.Reserved),
				EstimatedUSD: usd(t.Estimated), LimitUSD: &lim, Remaining: &rem}
			if c.scope.Kind == usage.KindGlobal {
				row.ID = globalCapID
			}
			rows = append(rows, row)
		}
	}
	return rows
}

// listPeriods reads the totals of month and, when month is the current
// one and p caps a scope by the week or the day, of the current week and
// day too.
func listPeriods(ctx context.Context, store usage.Store, month string, p *policy.Policy, now time.Time) (map[string]map[usage.Scope]usage.Totals, error) {
	pers := []string{month}
	if p != nil && month == budget.Period(now) {
		weekly, daily := p.GlobalLimits().Weekly != policy.Uncapped, p.GlobalLimits().Daily != policy.Uncapped
		for _, k := range p.Keys {
			weekly, daily = weekly || k.WeeklyBudgetUSD != nil, daily || k.DailyBudgetUSD != nil
		}
		for _, t := range p.Teams() {
			weekly, daily = weekly || t.WeeklyBudgetUSD != nil, daily || t.DailyBudgetUSD != nil
		}
		if weekly {
			pers = append(pers, budget.PeriodID(budget.Weekly, now))
		}
		if daily {
			pers = append(pers, budget.PeriodID(budget.Daily, now))
		}
	}
	out := make(map[string]map[usage.Scope]usage.Totals, len(pers))
	for _, per := range pers {
		t, err := store.List(ctx, per)
		if err != nil {
			return nil, err
		}
		out[per] = t
	}
	return out, nil
}

func usd(micros int64) float64 { return float64(micros) / 1e6 }

// handleUsage serves GET /usage?month=YYYY-MM on the admin listener: the
// usageReport of the store the gateway holds, with the policy in force.
func handleUsage(store usage.Store, policies *policy.Holder) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		month := r.URL.Query().Get("month")
		if month == "" {
			month = budget.Period(time.Now())
		}
		if _, err := time.Parse("2006-01", month); err != nil {
			http.Error(w, fmt.Sprintf("month %q: want YYYY-MM", month), http.StatusBadRequest)
			return
		}
		p := policies.Load()
		totals, err := listPeriods(r.Context(), store, month, p, time.Now())
		if err != nil {
			http.Error(w, "usage store: "+err.Error(), http.StatusServiceUnavailable)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(newUsageReport(month, "gateway", totals, p))
	})
}

// usageCommand implements `tollgate usage`: spend, reservations, caps and
// what remains per key, team and in total.
func usageCommand(ctx context.Context, inv *invocation) error {
	fs := inv.flags()
	storeURL := fs.String("store", envOr(inv.getenv, "TOLLGATE_STORE", defaultStore), "usage store: bolt://FILE, dynamodb://TABLE (env TOLLGATE_STORE)")
	month := fs.String("month", budget.Period(time.Now()), "the month, YYYY-MM (UTC)")
	dir := fs.String("policies", envOr(inv.getenv, "TOLLGATE_POLICIES", "./policies"), "the policy whose caps give the limits, when the store is read directly (env TOLLGATE_POLICIES)")
	asJSON := fs.Bool("json", false, "print JSON (the admin listener's GET /usage document) instead of a table")
	if err := inv.noArgs(fs); err != nil {
		return err
	}
	if _, err := time.Parse("2006-01", *month); err != nil {
		return inv.mistake("-month %q: want YYYY-MM", *month)
	}
	report, err := readUsage(ctx, inv, *storeURL, *month, *dir)
	if err != nil {
		return err
	}
	if *asJSON {
		enc := json.NewEncoder(inv.stdout)
		enc.SetIndent("", "  ")
		return enc.Encode(report)
	}
	printUsage(inv.stdout, report)
	return nil
}

// readUsage asks the gateway that holds a bolt store, or reads the store.
func readUsage(ctx context.Context, inv *invocation, storeURL, month, dir string) (usageReport, error) {
	file, isBolt := boltFile(storeURL)
	var askErr error
	if isBolt {
		if h, ok := readHolder(file); ok {
			r, err := askGateway(ctx, file, h, month)
			if err == nil {
				return r, nil
			}
			askErr = err // unless the holder file is stale: its pid reused, the file free
		}
	}
	var store usage.Store
	var source string
	switch {
	case isBolt:
		s, err := bolt.OpenReadOnly(file)
		if err != nil && askErr != nil {
			return usageReport{}, askErr
		}
		switch {
		case errors.Is(err, fs.ErrNotExist):
			return usageReport{Period: month, Source: file + " (does not exist yet)", Rows: []usageRow{}}, nil
		case errors.Is(err, bolt.ErrLocked):
			return usageReport{}, fmt.Errorf("usage store %s is locked by another process, and no running gateway names itself in %s.holder: stop that process, or ask its admin listener (GET /usage)", file, file)
		case err != nil:
			return usageReport{}, fmt.Errorf("usage store %s: %w", file, err)
		}
		store, source = s, file+" (read-only)"
	case storeKind(storeURL) == "memory":
		return usageReport{}, errors.New("usage: memory:// keeps spend inside the gateway process: ask its admin listener (GET /usage)")
	default:
		var awsCfg aws.Config
		if storeKind(storeURL) == "dynamodb" {
			var err error
			if awsCfg, err = config.LoadDefaultConfig(ctx); err != nil {
				return usageReport{}, fmt.Errorf("load AWS configuration: %w", err)
			}
		}
		s, err := openStore(ctx, serveConfig{store: storeURL, allowLocalStore: true}, awsCfg)
		if err != nil {
			return usageReport{}, err
		}
		store, source = s, storeURL
	}
	defer store.Close()
	p, err := loadPolicy(ctx, dir, inv.getenv)
	if err != nil {
		if !isNotExist(dir) {
			fmt.Fprintf(inv.stderr, "warning: no limits shown: policy %s: %v\n", dir, firstLine(err))
		}
		p = nil
	}
	totals, err := listPeriods(ctx, store, month, p, time.Now())
	if err != nil {
		return usageReport{}, err
	}
	return newUsageReport(month, source, totals, p), nil
}

// askGateway gets the report from the admin listener of the gateway that
// holds file.
func askGateway(ctx context.Context, file string, h holder, month string) (usageReport, error) {
	if h.Admin == "" {
		return usageReport{}, fmt.Errorf("usage store %s is held by a running gateway (%s) whose admin listener is off: start it with -admin-addr, or stop the gateway to read the file", file, h)
	}
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	u := "http://" + h.Admin + "/usage?month=" + url.QueryEscape(month)
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		return usageReport{}, err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return usageReport{}, fmt.Errorf("usage store %s is held by a running gateway (%s); asking its admin listener failed: %w", file, h, err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(io.LimitReader(resp.Body, 16<<20))
	if resp.StatusCode != http.StatusOK {
		return usageReport{}, fmt.Errorf("the running gateway (%s) answered GET /usage with %d: %s", h, resp.StatusCode, strings.TrimSpace(string(body)))
	}
	var r usageReport
	if err := json.Unmarshal(body, &r); err != nil {
		return usageReport{}, fmt.Errorf("the running gateway (%s) sent an unreadable usage report: %w", h, err)
	}
	r.Source = "the running gateway (" + h.String() + ", admin " + h.Admin + ")"
	return r, nil
}

func firstLine(err error) string {
	s, _, _ := strings.Cut(err.Error(), "\n")
	return s
}

// printUsage writes the report as a table. Every amount has six decimals
// (micro-USD, the unit budgets are kept in), right-aligned so that columns
// line up.
func printUsage(w io.Writer, r usageReport) {
	fmt.Fprintf(w, "usage in %s (UTC), from %s\n", r.Period, r.Source)
	if len(r.Rows) == 0 {
		fmt.Fprintln(w, "no spend recorded")
		return
	}
	cells := [][]string{{"SCOPE", "ID", "PERIOD", "SPENT", "RESERVED", "LIMIT", "REMAINING", "OF SPENT, ESTIMATED"}}
	estimated := false
	for _, row := range r.Rows {
		est := "-"
		if row.EstimatedUSD != 0 {
			est, estimated = dollars(&row.EstimatedUSD), true
		}
		cells = append(cells, []string{string(row.Scope), row.ID, row.Period,
			dollars(&row.SpentUSD), dollars(&row.ReservedUSD), dollars(row.LimitUSD), dollars(row.Remaining), est})
	}
	for col := 3; col < len(cells[0]); col++ {
		width := 0
		for _, c := range cells {
			width = max(width, len(c[col]))
		}
		for _, c := range cells {
			c[col] = strings.Repeat(" ", width-len(c[col])) + c[col]
		}
	}
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	for _, c := range cells {
		fmt.Fprintln(tw, strings.Join(c, "\t"))
	}
	tw.Flush()
	if estimated {
		fmt.Fprintln(w, "estimated: charged at the worst case of requests whose settlement never reached the store before their lease ended")
	}
}

func dollars(v *float64) string {
	if v == nil {
		return "-"
	}
	return "$" + strconv.FormatFloat(*v, 'f', 6, 64)
}
