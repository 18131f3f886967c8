// Command tollgate is an OpenAI-compatible gateway to Amazon Bedrock that
// meters every API key and holds it to its policy.
package main

import (
	"context"
	"fmt"
	"os"
	"os/signal"
	"runtime/debug"
	"syscall"
)

// Default garbage-collector settings, measured in docs/benchmarks.md: the
// gateway's heap is a few MiB, so Go's default (GOGC=100) collects dozens
// of times a second. A higher GOGC bounded by a soft memory limit cuts the
// GC's CPU by a fifth and keeps RSS low. GOGC and GOMEMLIMIT in the
// environment win.
const (
	defaultGCPercent   = 400
	defaultMemoryLimit = 32 << 20
)

func main() {
	if os.Getenv("GOGC") == "" {
		debug.SetGCPercent(defaultGCPercent)
	}
	if os.Getenv("GOMEMLIMIT") == "" {
		debug.SetMemoryLimit(defaultMemoryLimit)
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, os.Args[1:], os.Getenv, os.Stdout, os.Stderr); err != nil {
		fmt.Fprintln(os.Stderr, "tollgate:", err)
		os.Exit(1)
	}
}
