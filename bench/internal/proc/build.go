package proc

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
)

// Build builds ./cmd/server into dir/tollgate and returns that path. It
// builds the way `make build` does but keeps symbols, so that perf can name
// functions. It must run from the repository root.
func Build(ctx context.Context, dir string) (string, error) {
	return build(ctx, filepath.Join(dir, "tollgate"))
}

// BuildLambda builds ./cmd/server into dir/bootstrap as for the Lambda zip
// (`make lambda`: static, stripped) and returns that path. It must run from
// the repository root.
func BuildLambda(ctx context.Context, dir string) (string, error) {
	return build(ctx, filepath.Join(dir, "bootstrap"), "-ldflags", "-s -w")
}

// Tags are the build tags of `make build` and `make lambda`.
const Tags = "nomsgpack"

func build(ctx context.Context, bin string, flags ...string) (string, error) {
	args := append([]string{"build", "-trimpath", "-tags", Tags}, flags...)
	cmd := exec.CommandContext(ctx, "go", append(args, "-o", bin, "./cmd/server")...)
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
	cmd.Stdout, cmd.Stderr = os.Stderr, os.Stderr
	if err := cmd.Run(); err != nil {
		return "", fmt.Errorf("go build ./cmd/server (run from the repository root): %w", err)
	}
	return bin, nil
}
