package main

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/tollgate-gw/tollgate/internal/policy"
	"github.com/tollgate-gw/tollgate/internal/policy/s3source"
)

// policyCheck implements `tollgate policy check [DIR]`: it validates the
// policy and prints a summary (version, keys with their team, caps and model
// patterns, teams, the global cap, aliases, how many models are priced) to
// stdout. A policy that does not validate is an error listing every problem
// by file, line and field.
func policyCheck(ctx context.Context, inv *invocation) error {
	fs := inv.flags()
	dir := fs.String("policies", envOr(inv.getenv, "TOLLGATE_POLICIES", "./policies"), "policy directory or s3://bucket/prefix/ (env TOLLGATE_POLICIES)")
	if err := inv.parse(fs); err != nil {
		return err
	}
	switch fs.NArg() {
	case 0:
	case 1:
		*dir = fs.Arg(0)
	default:
		return inv.mistake("give one directory")
	}
	p, err := loadPolicy(ctx, *dir, inv.getenv)
	if err != nil {
		return fmt.Errorf("policy %s is not valid:\n%w", *dir, err)
	}
	printPolicy(inv.stdout, *dir, p, time.Now())
	return nil
}

// loadPolicy reads and validates the policy in dir, a directory or an
// s3://bucket/prefix/ location.
func loadPolicy(ctx context.Context, dir string, getenv func(string) string) (*policy.Policy, error) {
	if bucket, prefix, ok := s3source.ParseURL(dir); ok {
		client, err := newS3Client(ctx, getenv)
		if err != nil {
			return nil, err
		}
		p, _, err := s3source.Load(ctx, client, bucket, prefix)
		return p, err
	}
	return policy.Load(dir)
}

// policyFiles returns the policy files of a local directory by path, as
// policy.Load reads them; nil for an s3:// location or a missing directory.
func policyFiles(dir string) (map[string][]byte, error) {
	if _, _, ok := s3source.ParseURL(dir); ok || isNotExist(dir) {
		return nil, nil
	}
	entries, err := os.ReadDir(dir)
	if err != nil {
		return nil, err
	}
	files := map[string][]byte{}
	for _, e := range entries {
		if !policy.IsPolicyFile(e.Name()) {
			continue
		}
		name := filepath.Join(dir, e.Name())
		b, err := os.ReadFile(name)
		if err != nil {
			if errors.Is(err, fs.ErrNotExist) || isDir(name) {
				continue
			}
			return nil, err
		}
		files[name] = b
	}
	return files, nil
}

func isDir(name string) bool {
	fi, err := os.Stat(name)
	return err == nil && fi.IsDir()
}

// newS3Client builds an S3 client from the standard AWS configuration chain.
// An endpoint override (AWS_ENDPOINT_URL_S3 or AWS_ENDPOINT_URL) means an
// S3-compatible store, which nearly always wants path-style addressing.
func newS3Client(ctx context.Context, getenv func(string) string) (*s3.Client, error) {
	cfg, err := config.LoadDefaultConfig(ctx)
	if err != nil {
		return nil, fmt.Errorf("aws configuration: %w", err)
	}
	pathStyle := getenv("AWS_ENDPOINT_URL_S3") != "" || getenv("AWS_ENDPOINT_URL") != ""
	return s3.NewFromConfig(cfg, func(o *s3.Options) { o.UsePathStyle = pathStyle }), nil
}

// printPolicy writes the summary `policy check` prints.
func printPolicy(w io.Writer, dir string, p *policy.Policy, now time.Time) {
	fmt.Fprintf(w, "policy %s is valid (version %s)\n", dir, p.Version)

	fmt.Fprintf(w, "\nkeys: %d\n", len(p.Keys))
	if len(p.Keys) > 0 {
		tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
		fmt.Fprintln(tw, "  ID\tTEAM\tKEY CAP\tTEAM CAP\tMODELS\tDENY\tSTATUS")
		for _, k := range p.Keys {
			caps, alerts := p.Caps(k), p.Alerts(k)
			models := "(any)"
			if len(k.Models) > 0 {
				models = strings.Join(k.Models, " ")
			}
			fmt.Fprintf(tw, "  %s\t%s\t%s\t%s\t%s\t%s\t%s\n", k.ID, orDash(k.Team),
				limits(caps.Key, alerts.Key), limits(caps.Team, alerts.Team),
				models, orDash(strings.Join(k.Deny, " ")), keyStatus(k, now))
		}
		tw.Flush()
	}

	teams := p.Teams()
	fmt.Fprintf(w, "\nteams: %d\n", len(teams))
	if len(teams) > 0 {
		members := map[string]int{}
		for _, k := range p.Keys {
			members[k.Team]++
		}
		tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
		fmt.Fprintln(tw, "  ID\tCAP\tKEYS")
		for _, t := range teams {
			alert := t.AlertAt.Lowest()
			fmt.Fprintf(tw, "  %s\t%s\t%d\n", t.ID, limits(t.Limits(), alert), members[t.ID])
		}
		tw.Flush()
	}

	global := "none"
	if p.GlobalLimits().Capped() {
		global = limits(p.GlobalLimits(), p.GlobalAlertAt())
	}
	fmt.Fprintf(w, "\nglobal cap: %s\n", global)

	aliases := p.Aliases()
	fmt.Fprintf(w, "\naliases: %d\n", len(aliases))
	if len(aliases) > 0 {
		tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
		for _, name := range slices.Sorted(maps.Keys(aliases)) {
			fmt.Fprintf(tw, "  %s\t-> %s\n", name, aliases[name])
		}
		tw.Flush()
	}

	priced, fromPolicy := p.PricedModels()
	fmt.Fprintf(w, "\npriced models: %d (%d set by the policy's pricing)\n", len(priced), fromPolicy)
}

// limits renders a scope's caps with its alert threshold: "$20" for a
// month's alone, "$20/month $5/day" when shorter periods have caps.
func limits(l policy.Limits, alert float64) string {
	if l.Daily == policy.Uncapped && l.Weekly == policy.Uncapped {
		return money(l.Monthly, alert)
	}
	var parts []string
	for _, c := range []struct {
		micros int64
		per    string
	}{{l.Monthly, "month"}, {l.Weekly, "week"}, {l.Daily, "day"}} {
		if c.micros != policy.Uncapped {
			parts = append(parts, money(c.micros, 0)+"/"+c.per)
		}
	}
	return strings.Join(parts, " ") + strings.TrimPrefix(money(0, alert), "$0")
}

// money renders a cap in micro-USD with its alert threshold.
func money(micros int64, alert float64) string {
	if micros == policy.Uncapped {
		return "-"
	}
	s := "$" + strconv.FormatFloat(float64(micros)/1e6, 'f', -1, 64)
	if alert > 0 {
		s += " (alert " + strconv.FormatFloat(alert*100, 'f', -1, 64) + "%)"
	}
	return s
}

func keyStatus(k *policy.Key, now time.Time) string {
	switch {
	case k.Enabled != nil && !*k.Enabled:
		return "disabled"
	case k.Expires != nil && !now.Before(k.Expires.Start()):
		return "expired " + k.Expires.String()
	case k.Expires != nil:
		return "expires " + k.Expires.String()
	}
	return "enabled"
}

func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

// keyNew implements `tollgate key new --id ID [--team T]`: it prints a
// fresh random secret, once ("sk-tg-" and 40 base62 characters from
// crypto/rand, about 238 bits), and a policy file admitting it by its
// SHA-256. The file is checked together with the policy in -policies before
// it is printed, so it validates as printed: a team that policy does not
// define gets a teams entry, and an id it already has is refused.
func keyNew(ctx context.Context, inv *invocation) error {
	fs := inv.flags()
	id := fs.String("id", "", "the key's policy id, the name logs and metrics use (required)")
	team := fs.String("team", "", "the team the key belongs to")
	dir := fs.String("policies", envOr(inv.getenv, "TOLLGATE_POLICIES", "./policies"), "the policy the key joins, checked with it (env TOLLGATE_POLICIES)")
	if err := inv.noArgs(fs); err != nil {
		return err
	}
	switch {
	case *id == "":
		return inv.mistake("--id is required")
	case !policy.ValidID(*id):
		return inv.mistake("id %q must be 1-64 letters, digits, '.', '_' or '-'", *id)
	case *team != "" && !policy.ValidID(*team):
		return inv.mistake("team %q must be 1-64 letters, digits, '.', '_' or '-'", *team)
	}

	// The policy the key joins: a missing directory is an empty policy (a
	// first key), a broken one is reported and the file checked alone.
	var current *policy.Policy
	var files map[string][]byte
	if !isNotExist(*dir) {
		var broken *policy.ValidationError
		p, err := loadPolicy(ctx, *dir, inv.getenv)
		switch {
		case err == nil:
			current = p
			if files, err = policyFiles(*dir); err != nil {
				return fmt.Errorf("key new: %w", err)
			}
		case errors.As(err, &broken):
			fmt.Fprintf(inv.stderr, "warning: the policy in %s is not valid now (tollgate policy check %s); the file below is checked alone\n", *dir, *dir)
		default:
			return fmt.Errorf("key new: %w", err)
		}
	}
	if current != nil {
		if _, ok := current.KeyByID(*id); ok {
			return fmt.Errorf("key new: %s already has a key %q: choose another --id", *dir, *id)
		}
	}

	secret, err := newSecret()
	if err != nil {
		return err
	}
	var y strings.Builder
	fmt.Fprintf(&y, "keys:\n  - id: %s\n    sha256: %q\n", *id, policy.HashSecret(secret))
	if *team != "" {
		fmt.Fprintf(&y, "    team: %s\n", *team)
		if _, ok := teamOf(current, *team); !ok {
			fmt.Fprintf(&y, "teams:\n  # %s is not defined in %s yet: a team with no cap of its own\n  # (add monthly_budget_usd: N to cap it; docs/policy.md).\n  - id: %s\n", *team, *dir, *team)
		}
	}
	name := filepath.Join(*dir, *id+".yaml")
	if _, _, ok := s3source.ParseURL(*dir); ok {
		name = strings.TrimSuffix(*dir, "/") + "/" + *id + ".yaml"
	}
	// An s3:// policy was read without its files: the key's file is then
	// checked against the policy's teams above only.
	if files != nil || current == nil {
		merged := maps.Clone(files)
		if merged == nil {
			merged = map[string][]byte{}
		}
		merged[name] = []byte(y.String())
		if _, err := policy.Parse(merged); err != nil {
			return fmt.Errorf("key new: the new entry does not validate with %s:\n%w", *dir, err)
		}
	}

	w := inv.stdout
	fmt.Fprintf(w, "Secret of key %q (shown only this once: hand it to its owner now):\n\n", *id)
	fmt.Fprintf(w, "    %s\n\n", secret)
	fmt.Fprintf(w, "Save the lines below as %s (the gateway keeps only the hash; a running\n", name)
	fmt.Fprintf(w, "gateway picks the file up within seconds):\n\n")
	fmt.Fprint(w, y.String())
	return nil
}

// teamOf finds a team in p, which may be nil.
func teamOf(p *policy.Policy, id string) (*policy.Team, bool) {
	if p == nil {
		return nil, false
	}
	return p.Team(id)
}

func isNotExist(dir string) bool {
	_, err := os.Stat(dir)
	return errors.Is(err, fs.ErrNotExist)
}

const (
	secretPrefix = "sk-tg-"
	secretLen    = 40 // base62 characters: about 238 bits
	base62       = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
)

// newSecret returns a new API key secret. Bytes of 248 and above are dropped
// so that each character is uniform over the 62 (248 = 4 × 62).
func newSecret() (string, error) {
	out := make([]byte, 0, secretLen)
	buf := make([]byte, 64)
	for len(out) < secretLen {
		if _, err := rand.Read(buf); err != nil {
			return "", fmt.Errorf("random secret: %w", err)
		}
		for _, b := range buf {
			if b < 248 && len(out) < secretLen {
				out = append(out, base62[b%62])
			}
		}
	}
	return secretPrefix + string(out), nil
}
