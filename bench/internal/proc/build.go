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

// BuildBare builds the cold-start yardstick ./bench/load/bare (a bare
// net/http server) into dir/bare, the way Build builds the gateway, and
// returns that path. It must run from the repository root.
func BuildBare(ctx context.Context, dir string) (string, error) {
	return buildPkg(ctx, filepath.Join(dir, "bare"), "./bench/load/bare")
}

// Tags are the build tags of `make build` and `make lambda`.
const Tags = "nomsgpack"

func build(ctx context.Context, bin string, flags ...string) (string, error) {
	return buildPkg(ctx, bin, "./cmd/server", flags...)
}

func buildPkg(ctx context.Context, bin, pkg string, flags ...string) (string, error) {
	args := append([]string{"build", "-trimpath", "-tags", Tags}, flags...)
	cmd := exec.CommandContext(ctx, "go", append(args, "-o", bin, pkg)...)
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
	cmd.Stdout, cmd.Stderr = os.Stderr, os.Stderr
	if err := cmd.Run(); err != nil {
		return "", fmt.Errorf("go build %s (run from the repository root): %w", pkg, err)
	}
	return bin, nil
}
