package main

import (
	"context"
	"crypto/rand"
	"errors"
	"flag"
	"fmt"
	"io"
	"maps"
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

const policyUsage = `Usage: tollgate policy check [-policies DIR] [DIR]

Validates the policy in DIR (a directory, or s3://bucket/prefix/) and prints
a summary. DIR defaults to -policies, TOLLGATE_POLICIES, or ./policies.
`

const keyUsage = `Usage: tollgate key new --id ID [--team TEAM]

Prints a new random API key secret, once, and the lines to add to a policy
file, which keeps only the secret's SHA-256.
`

// policyCommand implements `tollgate policy check [DIR]`: it validates the
// policy and prints a summary (version, keys with their team, caps and model
// patterns, teams, the global cap, aliases, how many models are priced) to
// stdout. A policy that does not validate is an error listing every problem
// by file, line and field.
func policyCommand(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	if len(args) == 0 || args[0] != "check" {
		fmt.Fprint(stderr, policyUsage)
		if len(args) == 0 {
			return errors.New("policy: missing subcommand")
		}
		return fmt.Errorf("policy: unknown subcommand %q", args[0])
	}
	fs := flag.NewFlagSet("tollgate policy check", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() { fmt.Fprint(stderr, policyUsage); fs.PrintDefaults() }
	def := getenv("TOLLGATE_POLICIES")
	if def == "" {
		def = "./policies"
	}
	dir := fs.String("policies", def, "policy directory or s3://bucket/prefix/ (env TOLLGATE_POLICIES)")
	if err := fs.Parse(args[1:]); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return nil
		}
		return err
	}
	switch fs.NArg() {
	case 0:
	case 1:
		*dir = fs.Arg(0)
	default:
		fs.Usage()
		return errors.New("policy check: give one directory")
	}

	var p *policy.Policy
	var err error
	if bucket, prefix, ok := s3source.ParseURL(*dir); ok {
		var client *s3.Client
		if client, err = newS3Client(ctx, getenv); err == nil {
			p, _, err = s3source.Load(ctx, client, bucket, prefix)
		}
	} else {
		p, err = policy.Load(*dir)
	}
	if err != nil {
		return fmt.Errorf("policy %s is not valid:\n%w", *dir, err)
	}
	printPolicy(stdout, *dir, p, time.Now())
	return nil
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
				money(caps.Key, alerts.Key), money(caps.Team, alerts.Team),
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
			alert := 0.0
			if t.AlertAt != nil {
				alert = *t.AlertAt
			}
			fmt.Fprintf(tw, "  %s\t%s\t%d\n", t.ID, money(t.BudgetMicros(), alert), members[t.ID])
		}
		tw.Flush()
	}

	global := "none"
	if p.GlobalBudgetMicros() != policy.Uncapped {
		global = money(p.GlobalBudgetMicros(), p.GlobalAlertAt())
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

// keyCommand implements `tollgate key new --id ID [--team T]`: it prints a
// fresh random secret, once ("sk-tg-" and 40 base62 characters from
// crypto/rand, about 238 bits), and the YAML lines with its SHA-256 to paste
// into a policy file's keys.
func keyCommand(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	if len(args) == 0 || args[0] != "new" {
		fmt.Fprint(stderr, keyUsage)
		if len(args) == 0 {
			return errors.New("key: missing subcommand")
		}
		return fmt.Errorf("key: unknown subcommand %q", args[0])
	}
	fs := flag.NewFlagSet("tollgate key new", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() { fmt.Fprint(stderr, keyUsage); fs.PrintDefaults() }
	id := fs.String("id", "", "the key's policy id, the name logs and metrics use (required)")
	team := fs.String("team", "", "the team the key belongs to")
	if err := fs.Parse(args[1:]); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return nil
		}
		return err
	}
	switch {
	case fs.NArg() > 0:
		return fmt.Errorf("key new: unexpected argument %q", fs.Arg(0))
	case *id == "":
		fs.Usage()
		return errors.New("key new: --id is required")
	case !policy.ValidID(*id):
		return fmt.Errorf("key new: id %q must be 1-64 letters, digits, '.', '_' or '-'", *id)
	case *team != "" && !policy.ValidID(*team):
		return fmt.Errorf("key new: team %q must be 1-64 letters, digits, '.', '_' or '-'", *team)
	}
	secret, err := newSecret()
	if err != nil {
		return err
	}
	fmt.Fprintf(stdout, "Secret of key %q (shown only this once: hand it to its owner now):\n\n", *id)
	fmt.Fprintf(stdout, "    %s\n\n", secret)
	fmt.Fprintln(stdout, "Add the key under `keys:` in a policy file (the gateway keeps only the hash):")
	fmt.Fprintln(stdout)
	fmt.Fprintf(stdout, "  - id: %s\n", *id)
	fmt.Fprintf(stdout, "    sha256: %q\n", policy.HashSecret(secret))
	if *team != "" {
		fmt.Fprintf(stdout, "    team: %s\n", *team)
	}
	return nil
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
