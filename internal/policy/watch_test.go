package policy_test

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/tollgate-gw/tollgate/internal/policy"
)

// within is how long a change may take to reach new requests.
const within = 2 * time.Second

// watched runs Watch on dir in the background and reports what it does.
type watched struct {
	h        *policy.Holder
	reloads  chan *policy.Policy
	errs     chan error
	stop     func() // cancels and waits for Watch to return
	logs     *syncBuffer
	returned error
}

type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

func watch(t *testing.T, dir string, opts policy.WatchOptions) *watched {
	t.Helper()
	p, err := policy.Load(dir)
	if err != nil {
		t.Fatal(err)
	}
	if opts.Prepare != nil {
		if p, err = opts.Prepare(p); err != nil {
			t.Fatal(err)
		}
	}
	w := &watched{
		h:       policy.NewHolder(p),
		reloads: make(chan *policy.Policy, 10),
		errs:    make(chan error, 10),
		logs:    &syncBuffer{},
	}
	opts.OnReload = func(p *policy.Policy) { w.reloads <- p }
	opts.OnError = func(err error) { w.errs <- err }
	opts.Logger = slog.New(slog.NewTextHandler(w.logs, nil))
	if opts.Rescan == 0 {
		opts.Rescan = time.Hour // events only, unless the test says otherwise
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		w.returned = policy.Watch(ctx, dir, w.h, opts)
	}()
	w.stop = func() {
		cancel()
		select {
		case <-done:
		case <-time.After(5 * time.Second):
			t.Error("Watch did not return after its context was cancelled")
		}
	}
	t.Cleanup(w.stop)
	// Let the watch start: a change before it would be seen by its first
	// check anyway, but then the test would not exercise the events.
	time.Sleep(50 * time.Millisecond)
	return w
}

// reloaded waits for the next reload and returns it.
func (w *watched) reloaded(t *testing.T) *policy.Policy {
	t.Helper()
	select {
	case p := <-w.reloads:
		if w.h.Load() != p {
			t.Error("OnReload was called with a policy the Holder does not hold")
		}
		return p
	case err := <-w.errs:
		t.Fatalf("reload failed: %v", err)
	case <-time.After(within):
		t.Fatalf("no reload within %v", within)
	}
	return nil
}

// failed waits for the next reload error and returns it.
func (w *watched) failed(t *testing.T) error {
	t.Helper()
	select {
	case p := <-w.reloads:
		t.Fatalf("reloaded version %s, want an error", p.Version)
	case err := <-w.errs:
		return err
	case <-time.After(within):
		t.Fatalf("no reload error within %v", within)
	}
	return nil
}

// quiet checks that nothing is reported for a while.
func (w *watched) quiet(t *testing.T, d time.Duration) {
	t.Helper()
	select {
	case p := <-w.reloads:
		t.Errorf("unexpected reload to version %s", p.Version)
	case err := <-w.errs:
		t.Errorf("unexpected reload error: %v", err)
	case <-time.After(d):
	}
}

func writeFile(t *testing.T, name, content string) {
	t.Helper()
	if err := os.WriteFile(name, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
}

func keysOf(p *policy.Policy) string {
	var ids []string
	for _, k := range p.Keys {
		ids = append(ids, k.ID)
	}
	return strings.Join(ids, ",")
}

func keyFile(ids ...string) string {
	s := "keys:\n"
	for _, id := range ids {
		s += key(id)
	}
	return s
}

func TestPolicyWatchEdits(t *testing.T) {
	dir := t.TempDir()
	file := filepath.Join(dir, "keys.yaml")
	writeFile(t, file, keyFile("a"))
	w := watch(t, dir, policy.WatchOptions{})
	first := w.h.Load()

	// An edit in place.
	writeFile(t, file, keyFile("a", "b"))
	if got := keysOf(w.reloaded(t)); got != "a,b" {
		t.Errorf("after an edit: keys %s, want a,b", got)
	}

	// A broken edit keeps the last good policy, and says where it is broken.
	good := w.h.Load()
	writeFile(t, file, keyFile("a", "b")+"    monthly_budget_usd: -5\n")
	err := w.failed(t)
	var ve *policy.ValidationError
	if !errors.As(err, &ve) || !strings.HasPrefix(err.Error(), file+":6: keys[1].monthly_budget_usd: ") {
		t.Errorf("reload error = %v, want a ValidationError at %s:6", err, file)
	}
	if w.h.Load() != good {
		t.Error("a broken edit replaced the policy")
	}
	if !strings.Contains(w.logs.String(), "keys.yaml:6: keys[1].monthly_budget_usd") {
		t.Errorf("the log does not name the file and line:\n%s", w.logs.String())
	}

	// Reverting the broken edit says the policy is valid again, though the
	// policy in force does not change.
	writeFile(t, file, keyFile("a", "b"))
	if p := w.reloaded(t); p != good {
		t.Errorf("after reverting the broken edit: version %s, want the policy in force, %s", p.Version, good.Version)
	}
	if !strings.Contains(w.logs.String(), `msg="policy valid again"`) {
		t.Errorf("no \"policy valid again\" in the log:\n%s", w.logs.String())
	}

	// An editor saving by writing a temporary file and renaming it over.
	tmp := filepath.Join(dir, ".keys.yaml.swp")
	writeFile(t, tmp, keyFile("c"))
	if err := os.Rename(tmp, file); err != nil {
		t.Fatal(err)
	}
	if got := keysOf(w.reloaded(t)); got != "c" {
		t.Errorf("after an atomic rename: keys %s, want c", got)
	}

	// A new file, then its removal.
	writeFile(t, filepath.Join(dir, "more.yml"), keyFile("d"))
	if got := keysOf(w.reloaded(t)); got != "c,d" {
		t.Errorf("after adding a file: keys %s, want c,d", got)
	}
	if err := os.Remove(filepath.Join(dir, "more.yml")); err != nil {
		t.Fatal(err)
	}
	if got := keysOf(w.reloaded(t)); got != "c" {
		t.Errorf("after removing a file: keys %s, want c", got)
	}

	// Files that are not policy files, and rewriting the same content, change
	// nothing.
	writeFile(t, filepath.Join(dir, "notes.txt"), "hello")
	writeFile(t, file, keyFile("c"))
	w.quiet(t, 600*time.Millisecond)

	if first == w.h.Load() {
		t.Error("the policy never changed")
	}
	w.stop()
	if w.returned != nil {
		t.Errorf("Watch returned %v after cancellation, want nil", w.returned)
	}
}

// TestPolicyWatchConfigMap swaps files the way Kubernetes updates a
// ConfigMap volume: the files are links through ..data, a link to a
// timestamped directory, which is replaced by renaming a new link over it.
func TestPolicyWatchConfigMap(t *testing.T) {
	dir := t.TempDir()
	version := func(name, content string) {
		t.Helper()
		if err := os.Mkdir(filepath.Join(dir, name), 0o755); err != nil {
			t.Fatal(err)
		}
		writeFile(t, filepath.Join(dir, name, "keys.yaml"), content)
	}
	version("..2026_01_01", keyFile("a"))
	if err := os.Symlink("..2026_01_01", filepath.Join(dir, "..data")); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink("..data/keys.yaml", filepath.Join(dir, "keys.yaml")); err != nil {
		t.Fatal(err)
	}
	w := watch(t, dir, policy.WatchOptions{})
	if got := keysOf(w.h.Load()); got != "a" {
		t.Fatalf("keys %s, want a", got)
	}

	version("..2026_01_02", keyFile("a", "b"))
	if err := os.Symlink("..2026_01_02", filepath.Join(dir, "..data_tmp")); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(filepath.Join(dir, "..data_tmp"), filepath.Join(dir, "..data")); err != nil {
		t.Fatal(err)
	}
	if err := os.RemoveAll(filepath.Join(dir, "..2026_01_01")); err != nil {
		t.Fatal(err)
	}
	if got := keysOf(w.reloaded(t)); got != "a,b" {
		t.Errorf("after the ConfigMap swap: keys %s, want a,b", got)
	}
}

// TestPolicyWatchDirSymlinkSwap replaces the watched directory itself: it is
// a link to a release directory, re-pointed by renaming a new link over it.
func TestPolicyWatchDirSymlinkSwap(t *testing.T) {
	root := t.TempDir()
	for name, content := range map[string]string{"v1": keyFile("a"), "v2": keyFile("b"), "v3": keyFile("c")} {
		if err := os.Mkdir(filepath.Join(root, name), 0o755); err != nil {
			t.Fatal(err)
		}
		writeFile(t, filepath.Join(root, name, "keys.yaml"), content)
	}
	current := filepath.Join(root, "current")
	if err := os.Symlink("v1", current); err != nil {
		t.Fatal(err)
	}
	swap := func(target string) {
		t.Helper()
		tmp := filepath.Join(root, "current.tmp")
		if err := os.Symlink(target, tmp); err != nil {
			t.Fatal(err)
		}
		if err := os.Rename(tmp, current); err != nil {
			t.Fatal(err)
		}
	}
	w := watch(t, current, policy.WatchOptions{})

	swap("v2")
	if got := keysOf(w.reloaded(t)); got != "b" {
		t.Errorf("after swapping the directory link: keys %s, want b", got)
	}
	// Edits in the new target are watched, not those in the old one.
	writeFile(t, filepath.Join(root, "v1", "keys.yaml"), keyFile("old"))
	w.quiet(t, 600*time.Millisecond)
	writeFile(t, filepath.Join(root, "v2", "keys.yaml"), keyFile("b", "b2"))
	if got := keysOf(w.reloaded(t)); got != "b,b2" {
		t.Errorf("after editing the new target: keys %s, want b,b2", got)
	}
	swap("v3")
	if got := keysOf(w.reloaded(t)); got != "c" {
		t.Errorf("after a second swap: keys %s, want c", got)
	}
}

// TestPolicyWatchRescan stands for a filesystem that loses notifications: with
// events never settling in time, only the periodic re-check sees the change.
func TestPolicyWatchRescan(t *testing.T) {
	dir := t.TempDir()
	writeFile(t, filepath.Join(dir, "keys.yaml"), keyFile("a"))
	w := watch(t, dir, policy.WatchOptions{Debounce: time.Hour, Rescan: 100 * time.Millisecond})
	w.quiet(t, 300*time.Millisecond) // unchanged content: nothing to do
	writeFile(t, filepath.Join(dir, "keys.yaml"), keyFile("a", "b"))
	if got := keysOf(w.reloaded(t)); got != "a,b" {
		t.Errorf("after a rescan: keys %s, want a,b", got)
	}
	// A broken policy is reported once, not at every rescan.
	writeFile(t, filepath.Join(dir, "keys.yaml"), "keys: [\n")
	w.failed(t)
	w.quiet(t, 500*time.Millisecond)
}

func TestPolicyWatchPrepare(t *testing.T) {
	dir := t.TempDir()
	writeFile(t, filepath.Join(dir, "keys.yaml"), keyFile("a"))
	addDemo := func(p *policy.Policy) (*policy.Policy, error) {
		return p.WithKey(policy.Key{ID: "demo", SHA256: policy.HashSecret("demo-secret")})
	}
	w := watch(t, dir, policy.WatchOptions{Prepare: addDemo})
	writeFile(t, filepath.Join(dir, "keys.yaml"), keyFile("a", "b"))
	if got := keysOf(w.reloaded(t)); got != "a,b,demo" {
		t.Errorf("keys %s, want a,b,demo", got)
	}
	// A policy Prepare refuses is a failed reload.
	writeFile(t, filepath.Join(dir, "keys.yaml"), keyFile("demo"))
	if err := w.failed(t); !strings.Contains(err.Error(), `duplicate key id "demo"`) {
		t.Errorf("reload error = %v, want the duplicate demo key", err)
	}
	if got := keysOf(w.h.Load()); got != "a,b,demo" {
		t.Errorf("keys %s after a refused reload, want a,b,demo", got)
	}
}

func TestPolicyWatchMissingDir(t *testing.T) {
	err := policy.Watch(context.Background(), filepath.Join(t.TempDir(), "missing"), policy.NewHolder(parse(t)), policy.WatchOptions{})
	if err == nil {
		t.Error("Watch of a missing directory returned nil")
	}
}

// TestPolicyWatchKeepsInFlightPolicy: a request holds the *Policy it loaded,
// whatever a reload stores after.
func TestPolicyWatchKeepsInFlightPolicy(t *testing.T) {
	dir := t.TempDir()
	writeFile(t, filepath.Join(dir, "keys.yaml"), keyFile("a"))
	w := watch(t, dir, policy.WatchOptions{})
	inFlight := w.h.Load()
	writeFile(t, filepath.Join(dir, "keys.yaml"), keyFile("b"))
	w.reloaded(t)
	if got := keysOf(inFlight); got != "a" {
		t.Errorf("the in-flight policy changed to keys %s", got)
	}
	if _, err := inFlight.Authenticate("a", time.Now()); err != nil {
		t.Errorf("the in-flight policy no longer accepts a: %v", err)
	}
}
