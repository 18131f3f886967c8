package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"strings"
	"text/tabwriter"
)

// command is one thing `tollgate` does. The table below is the whole
// command line: the top-level help, `help CMD` and the dispatch read it.
type command struct {
	name    string // as typed: "serve", "policy check"
	args    string // what follows the name in the synopsis
	summary string // one line in `tollgate help`
	about   string // what `tollgate NAME -h` says above the flags
	run     func(ctx context.Context, inv *invocation) error
}

// commands lists every command in the order `tollgate help` shows them.
// They are built by a function rather than held in a variable so that no
// package-level state refers to the functions that dispatch on it.
func commands() []*command {
	return []*command{
		{name: "serve", args: "[flags]", run: serve,
			summary: "run the gateway (the default: bare `tollgate` serves)",
			about: "Runs the OpenAI-compatible gateway. Every flag falls back to the\n" +
				"environment variable named in its description; a flag wins."},
		{name: "policy check", args: "[flags] [DIR]", run: policyCheck,
			summary: "validate the policy and print a summary",
			about: "Validates the policy in DIR (a directory, or s3://bucket/prefix/) and prints\n" +
				"a summary. DIR defaults to -policies, TOLLGATE_POLICIES, or ./policies."},
		{name: "key new", args: "--id ID [--team TEAM] [flags]", run: keyNew,
			summary: "make a new API key secret and its policy entry",
			about: "Prints a new random API key secret, once, and a policy file that admits it\n" +
				"(the gateway keeps only the secret's SHA-256). A team not yet defined in\n" +
				"-policies gets a teams entry, so the file validates as printed."},
		{name: "usage", args: "[flags]", run: usageCommand,
			summary: "print the month's spend per key, team and in total",
			about: "Prints the month's spend, reservations, caps and what remains per key, team\n" +
				"and in total. While a gateway holds the local store, it is asked through its\n" +
				"admin listener; otherwise the store is read directly (read-only for bolt)."},
		{name: "store init", args: "[flags]", run: storeInit,
			summary: "create the DynamoDB usage table (an embedded store creates itself)",
			about: "Creates the DynamoDB usage table that -store names (on-demand billing, TTL\n" +
				"on). It is harmless to run twice; an embedded store needs nothing."},
		{name: "sim", args: "[flags]", run: simulate,
			summary: "run only the built-in Bedrock simulator, for other tools to call",
			about: "Runs the Bedrock simulator alone: point AWS_ENDPOINT_URL_BEDROCK_RUNTIME and\n" +
				"AWS_ENDPOINT_URL_BEDROCK at it. Markers in prompts steer it\n" +
				"(internal/bedrocksim/doc.go)."},
		{name: "version", run: printVersion,
			summary: "print the version"},
		{name: "help", args: "[COMMAND]", run: help,
			summary: "print this help, or a command's"},
	}
}

// invocation is one run of a command: its arguments and surroundings.
type invocation struct {
	cmd            *command
	args           []string
	getenv         func(string) string
	stdout, stderr io.Writer
	fs             *flag.FlagSet // set by flags, for the help
}

// errHelpShown reports that the command printed its help instead of running:
// run then returns nil.
var errHelpShown = errors.New("help shown")

// usageError is a mistake in the command line: the usage has been printed
// on stderr, and main exits with status 2.
type usageError struct{ err error }

func (e *usageError) Error() string { return e.err.Error() }
func (e *usageError) Unwrap() error { return e.err }

// run is the whole program: main only turns signals into ctx and errors into
// an exit status. A bare `tollgate`, or flags alone, serves: the Lambda
// bootstrap runs the binary with no arguments.
func run(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	inv := &invocation{args: args, getenv: getenv, stdout: stdout, stderr: stderr}
	table := commands()
	switch {
	case len(args) == 0 || (strings.HasPrefix(args[0], "-") && !isHelpFlag(args[0])):
		inv.cmd = find(table, "serve")
	case isHelpFlag(args[0]):
		printTopHelp(stdout, table)
		return nil
	default:
		c, rest, err := lookup(table, args)
		if err != nil {
			if isGroup(table, args[0]) {
				printGroupHelp(stderr, table, args[0])
			} else {
				printTopHelp(stderr, table)
			}
			return &usageError{err}
		}
		if c == nil { // a group such as `policy`, asked for its help
			printGroupHelp(stdout, table, args[0])
			return nil
		}
		inv.cmd, inv.args = c, rest
	}
	err := inv.cmd.run(ctx, inv)
	if errors.Is(err, errHelpShown) {
		return nil
	}
	return err
}

func isHelpFlag(s string) bool { return s == "-h" || s == "--help" || s == "-help" }

func find(table []*command, name string) *command {
	for _, c := range table {
		if c.name == name {
			return c
		}
	}
	return nil
}

// lookup finds the command args name, and returns it with the arguments
// left. A group name followed by a help flag returns a nil command: the
// group's help is wanted.
func lookup(table []*command, args []string) (*command, []string, error) {
	if len(args) > 1 {
		if c := find(table, args[0]+" "+args[1]); c != nil {
			return c, args[2:], nil
		}
	}
	if c := find(table, args[0]); c != nil {
		return c, args[1:], nil
	}
	var subs []string
	for _, c := range table {
		if sub, ok := strings.CutPrefix(c.name, args[0]+" "); ok {
			subs = append(subs, sub)
		}
	}
	switch {
	case len(subs) == 0:
		return nil, nil, fmt.Errorf("unknown command %q", args[0])
	case len(args) == 1:
		return nil, nil, fmt.Errorf("%s: missing subcommand (%s)", args[0], strings.Join(subs, ", "))
	case isHelpFlag(args[1]):
		return nil, nil, nil
	default:
		return nil, nil, fmt.Errorf("%s: unknown subcommand %q (want %s)", args[0], args[1], strings.Join(subs, ", "))
	}
}

// isGroup reports whether name is the first word of commands such as
// `policy check`.
func isGroup(table []*command, name string) bool {
	for _, c := range table {
		if strings.HasPrefix(c.name, name+" ") {
			return true
		}
	}
	return false
}

func printTopHelp(w io.Writer, table []*command) {
	fmt.Fprint(w, "Tollgate is an OpenAI-compatible gateway to Amazon Bedrock that meters every\n"+
		"API key and holds it to its policy.\n\n"+
		"Usage: tollgate [COMMAND] [flags]\n\nCommands:\n")
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	for _, c := range table {
		fmt.Fprintf(tw, "  %s\t%s\n", c.name, c.summary)
	}
	tw.Flush()
	fmt.Fprint(w, "\nRun 'tollgate COMMAND -h' for a command's flags. Docs: README.md, docs/.\n")
}

func printGroupHelp(w io.Writer, table []*command, group string) {
	fmt.Fprintf(w, "Usage: tollgate %s SUBCOMMAND [flags]\n\nSubcommands:\n", group)
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	for _, c := range table {
		if strings.HasPrefix(c.name, group+" ") {
			fmt.Fprintf(tw, "  %s\t%s\n", c.name, c.summary)
		}
	}
	tw.Flush()
	fmt.Fprintf(w, "\nRun 'tollgate %s SUBCOMMAND -h' for its flags.\n", group)
}

// flags returns a flag set for the command that prints nothing by itself:
// parse and mistake decide where the help goes.
func (inv *invocation) flags() *flag.FlagSet {
	fs := flag.NewFlagSet("tollgate "+inv.cmd.name, flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	fs.Usage = func() {}
	inv.fs = fs
	return fs
}

// parse parses the invocation's arguments into fs. Asked for help, it prints
// the command's help on stdout and returns errHelpShown; a mistake prints it
// on stderr and returns a usageError.
func (inv *invocation) parse(fs *flag.FlagSet) error {
	err := fs.Parse(inv.args)
	switch {
	case errors.Is(err, flag.ErrHelp):
		inv.printHelp(inv.stdout)
		return errHelpShown
	case err != nil:
		return inv.mistake("%v", err)
	}
	return nil
}

// noArgs parses fs and refuses positional arguments.
func (inv *invocation) noArgs(fs *flag.FlagSet) error {
	if err := inv.parse(fs); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return inv.mistake("unexpected argument %q", fs.Arg(0))
	}
	return nil
}

// mistake prints the command's help on stderr and returns the usageError
// "NAME: message".
func (inv *invocation) mistake(format string, a ...any) error {
	inv.printHelp(inv.stderr)
	return &usageError{fmt.Errorf("%s: %s", inv.cmd.name, fmt.Sprintf(format, a...))}
}

func (inv *invocation) printHelp(w io.Writer) {
	c := inv.cmd
	fmt.Fprintf(w, "Usage: tollgate %s", c.name)
	if c.args != "" {
		fmt.Fprintf(w, " %s", c.args)
	}
	fmt.Fprintf(w, "\n\n%s\n", c.summary)
	if c.about != "" {
		fmt.Fprintf(w, "\n%s\n", c.about)
	}
	if inv.fs != nil {
		var n int
		inv.fs.VisitAll(func(*flag.Flag) { n++ })
		if n > 0 {
			fmt.Fprint(w, "\nFlags:\n")
			inv.fs.SetOutput(w)
			inv.fs.PrintDefaults()
			inv.fs.SetOutput(io.Discard)
		}
	}
}

func printVersion(_ context.Context, inv *invocation) error {
	if err := inv.noArgs(inv.flags()); err != nil {
		return err
	}
	fmt.Fprintln(inv.stdout, "tollgate", version)
	return nil
}

// help implements `tollgate help [COMMAND]`.
func help(ctx context.Context, inv *invocation) error {
	table := commands()
	if len(inv.args) == 0 {
		printTopHelp(inv.stdout, table)
		return nil
	}
	if len(inv.args) == 1 && isGroup(table, inv.args[0]) {
		printGroupHelp(inv.stdout, table, inv.args[0])
		return nil
	}
	if isHelpFlag(inv.args[0]) {
		inv.flags()
		inv.printHelp(inv.stdout)
		return nil
	}
	c, rest, err := lookup(table, inv.args)
	switch {
	case err != nil:
		return inv.mistake("%v", err)
	case c == nil:
		printGroupHelp(inv.stdout, table, inv.args[0])
		return nil
	case len(rest) > 0:
		return inv.mistake("unexpected argument %q", rest[0])
	case c.name == "help":
		inv.flags()
		inv.printHelp(inv.stdout)
		return nil
	}
	// The command prints its own help, flags included.
	return c.run(ctx, &invocation{cmd: c, args: []string{"-h"}, getenv: inv.getenv, stdout: inv.stdout, stderr: inv.stderr})
}
