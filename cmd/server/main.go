// Command tollgate is an OpenAI-compatible gateway to Amazon Bedrock that
// meters every API key and holds it to its policy.
package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/signal"
	"runtime"
	"syscall"
)

func main() {
	// No heap profile is ever served, so do not sample allocations for one:
	// the sampler's stack table alone grew to 1.4 MiB under load. The
	// garbage collector keeps Go's defaults (GOGC=100, no memory limit),
	// measured against the alternatives in docs/benchmarks.md; GOGC and
	// GOMEMLIMIT in the environment still apply.
	runtime.MemProfileRate = 0
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, os.Args[1:], os.Getenv, os.Stdout, os.Stderr); err != nil {
		fmt.Fprintln(os.Stderr, "tollgate:", err)
		// A mistake in the command line exits 2, as flag's and most
		// tools' do; anything else 1.
		var mistake *usageError
		if errors.As(err, &mistake) {
			os.Exit(2)
		}
		os.Exit(1)
	}
}
