package main

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

// TestMain lets a test run the binary's main as a child process (with
// TOLLGATE_TEST_MAIN=1), to see its exit status.
func TestMain(m *testing.M) {
	if os.Getenv("TOLLGATE_TEST_MAIN") == "1" {
		os.Args = append([]string{"tollgate"}, os.Args[1:]...)
		main()
		os.Exit(0)
	}
	os.Exit(m.Run())
}

// tollgate runs args through run, as the binary would, with an empty
// environment.
func tollgate(args ...string) (stdout, stderr string, err error) {
	var out, errOut strings.Builder
	err = run(context.Background(), args, env(), &out, &errOut)
	return out.String(), errOut.String(), err
}

// TestHelp asks every command and subcommand for its help in every form: each
// prints its usage on stdout, nothing on stderr, and succeeds.
func TestHelp(t *testing.T) {
	forms := []struct {
		name string
		args func(cmd []string) []string
	}{
		{"-h", func(cmd []string) []string { return append(cmd, "-h") }},
		{"--help", func(cmd []string) []string { return append(cmd, "--help") }},
		{"-help", func(cmd []string) []string { return append(cmd, "-help") }},
		{"help CMD", func(cmd []string) []string { return append([]string{"help"}, cmd...) }},
	}
	for _, c := range commands() {
		for _, f := range forms {
			args := f.args(strings.Fields(c.name))
			t.Run(strings.Join(args, " "), func(t *testing.T) {
				stdout, stderr, err := tollgate(args...)
				if err != nil {
					t.Fatalf("error %v\nstderr: %s", err, stderr)
				}
				if stderr != "" {
					t.Errorf("stderr: %s", stderr)
				}
				if want := "Usage: tollgate " + c.name; !strings.HasPrefix(stdout, want) {
					t.Errorf("stdout does not start with %q:\n%s", want, stdout)
				}
				if !strings.Contains(stdout, c.summary) {
					t.Errorf("stdout lacks the summary %q:\n%s", c.summary, stdout)
				}
			})
		}
	}
	// The groups' own help lists their subcommands.
	for _, args := range [][]string{{"policy", "-h"}, {"key", "--help"}, {"help", "store"}} {
		t.Run(strings.Join(args, " "), func(t *testing.T) {
			stdout, _, err := tollgate(args...)
			group := args[0]
			if group == "help" {
				group = args[1]
			}
			if err != nil || !strings.HasPrefix(stdout, "Usage: tollgate "+group+" SUBCOMMAND") {
				t.Errorf("error %v, stdout:\n%s", err, stdout)
			}
			for _, c := range commands() {
				if strings.HasPrefix(c.name, group+" ") && !strings.Contains(stdout, c.name) {
					t.Errorf("%s is not listed:\n%s", c.name, stdout)
				}
			}
		})
	}
}

// TestHelpListsEveryCommand checks that the top-level help, in each of its
// forms, lists every command with its one-line summary.
func TestHelpListsEveryCommand(t *testing.T) {
	for _, args := range [][]string{{"help"}, {"-h"}, {"--help"}, {"-help"}} {
		t.Run(strings.Join(args, " "), func(t *testing.T) {
			stdout, stderr, err := tollgate(args...)
			if err != nil || stderr != "" {
				t.Fatalf("error %v, stderr %q", err, stderr)
			}
			if !strings.Contains(stdout, "Usage: tollgate [COMMAND] [flags]") {
				t.Errorf("no usage line:\n%s", stdout)
			}
			for _, c := range commands() {
				if !strings.Contains(stdout, "  "+c.name+" ") || !strings.Contains(stdout, c.summary) {
					t.Errorf("%q (%s) is not listed:\n%s", c.name, c.summary, stdout)
				}
			}
		})
	}
}

// TestCommandLineMistakes checks that each mistake is a usageError (exit
// status 2) naming what is wrong, with the usage on stderr and nothing on
// stdout.
func TestCommandLineMistakes(t *testing.T) {
	tests := []struct {
		args      []string
		wantErr   string
		wantUsage string // the help printed on stderr starts with it
	}{
		{[]string{"serve", "-nope"}, "serve: flag provided but not defined: -nope", "Usage: tollgate serve"},
		{[]string{"-nope"}, "serve: flag provided but not defined: -nope", "Usage: tollgate serve"},
		{[]string{"serve", "extra"}, `serve: unexpected argument "extra"`, "Usage: tollgate serve"},
		{[]string{"serve", "-log-level", "loud"}, `serve: -log-level: slog: level string "loud": unknown name`, "Usage: tollgate serve"},
		{[]string{"serve", "-addr"}, "serve: flag needs an argument: -addr", "Usage: tollgate serve"},
		{[]string{"bogus"}, `unknown command "bogus"`, "Tollgate is"},
		{[]string{"policy"}, "policy: missing subcommand (check)", "Usage: tollgate policy SUBCOMMAND"},
		{[]string{"policy", "lint"}, `policy: unknown subcommand "lint" (want check)`, "Usage: tollgate policy SUBCOMMAND"},
		{[]string{"policy", "check", "a", "b"}, "policy check: give one directory", "Usage: tollgate policy check"},
		{[]string{"key", "new"}, "key new: --id is required", "Usage: tollgate key new"},
		{[]string{"key", "new", "--id", "a", "--team"}, "key new: flag needs an argument: -team", "Usage: tollgate key new"},
		{[]string{"store"}, "store: missing subcommand (init)", "Usage: tollgate store SUBCOMMAND"},
		{[]string{"store", "init", "--nope"}, "store init: flag provided but not defined: -nope", "Usage: tollgate store init"},
		{[]string{"usage", "-month", "November"}, `usage: -month "November": want YYYY-MM`, "Usage: tollgate usage"},
		{[]string{"usage", "x"}, `usage: unexpected argument "x"`, "Usage: tollgate usage"},
		{[]string{"sim", "-latency", "soon"}, `sim: invalid value "soon" for flag -latency: parse error`, "Usage: tollgate sim"},
		{[]string{"version", "x"}, `version: unexpected argument "x"`, "Usage: tollgate version"},
		{[]string{"help", "bogus"}, `help: unknown command "bogus"`, "Usage: tollgate help"},
	}
	for _, tt := range tests {
		t.Run(strings.Join(tt.args, " "), func(t *testing.T) {
			stdout, stderr, err := tollgate(tt.args...)
			var mistake *usageError
			if !errors.As(err, &mistake) {
				t.Fatalf("error %v (%T), want a usageError", err, err)
			}
			if diff := cmp.Diff(tt.wantErr, err.Error()); diff != "" {
				t.Errorf("error (-want +got):\n%s", diff)
			}
			if !strings.HasPrefix(stderr, tt.wantUsage) {
				t.Errorf("stderr does not start with %q:\n%s", tt.wantUsage, stderr)
			}
			if stdout != "" {
				t.Errorf("stdout: %s", stdout)
			}
		})
	}
}

// TestExitStatus runs main in a child process: help exits 0, a mistake 2
// with the message last on stderr, a failure 1.
func TestExitStatus(t *testing.T) {
	if testing.Short() {
		t.Skip("starts child processes")
	}
	tests := []struct {
		args       []string
		wantStatus int
		wantLast   string // the last line of stderr
	}{
		{[]string{"--help"}, 0, ""},
		{[]string{"key", "-h"}, 0, ""},
		{[]string{"version"}, 0, ""},
		{[]string{"serve", "-nope"}, 2, "tollgate: serve: flag provided but not defined: -nope"},
		{[]string{"nope"}, 2, `tollgate: unknown command "nope"`},
		{[]string{"policy", "check", "/nowhere"}, 1, "policy directory /nowhere does not exist"},
	}
	for _, tt := range tests {
		t.Run(strings.Join(tt.args, " "), func(t *testing.T) {
			cmd := exec.Command(os.Args[0], tt.args...)
			cmd.Env = []string{"TOLLGATE_TEST_MAIN=1"}
			var stderr strings.Builder
			cmd.Stderr = &stderr
			err := cmd.Run()
			status := 0
			var exit *exec.ExitError
			if errors.As(err, &exit) {
				status = exit.ExitCode()
			} else if err != nil {
				t.Fatal(err)
			}
			if status != tt.wantStatus {
				t.Errorf("exit status %d, want %d; stderr:\n%s", status, tt.wantStatus, stderr.String())
			}
			lines := strings.Split(strings.TrimRight(stderr.String(), "\n"), "\n")
			if last := lines[len(lines)-1]; last != tt.wantLast {
				t.Errorf("last line of stderr %q, want %q", last, tt.wantLast)
			}
		})
	}
}

// TestBareCommandServes runs the binary's entry with no arguments, as the
// Lambda bootstrap does: it serves, configured by the environment alone.
func TestBareCommandServes(t *testing.T) {
	vars := env("TOLLGATE_SIM", "1", "TOLLGATE_ADDR", "127.0.0.1:0", "TOLLGATE_ADMIN_ADDR", "off",
		"TOLLGATE_STORE", "memory://", "TOLLGATE_POLICIES", t.TempDir())
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	logs := newLogBuffer()
	done := make(chan error, 1)
	go func() { done <- run(ctx, nil, vars, io.Discard, logs) }()
	deadline := time.After(10 * time.Second)
	for {
		select {
		case line := <-logs.lines:
			var rec struct{ Msg, Addr string }
			if json.Unmarshal([]byte(line), &rec) != nil || rec.Msg != "listening" {
				continue
			}
			resp, err := http.Get("http://" + rec.Addr + "/healthz")
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			if resp.StatusCode != http.StatusOK {
				t.Errorf("healthz: %d", resp.StatusCode)
			}
			cancel()
			if err := <-done; err != nil {
				t.Errorf("run: %v", err)
			}
			return
		case err := <-done:
			t.Fatalf("run returned before listening: %v\n%s", err, logs)
		case <-deadline:
			t.Fatalf("no \"listening\" line:\n%s", logs)
		}
	}
}
