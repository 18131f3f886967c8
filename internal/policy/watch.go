package policy

import (
	"context"
	"fmt"
	"log/slog"
	"path/filepath"
	"slices"
	"time"

	"github.com/fsnotify/fsnotify"
)

// Defaults of [WatchOptions].
const (
	DefaultDebounce = 250 * time.Millisecond
	DefaultRescan   = 30 * time.Second
)

// WatchOptions configure how a changed policy is picked up, by [Watch] and by
// the s3source poller.
type WatchOptions struct {
	Logger   *slog.Logger  // nil discards
	Debounce time.Duration // quiet time after the last file event before reloading; 0 means DefaultDebounce
	Rescan   time.Duration // how often the directory is re-read whatever the events say; 0 means DefaultRescan

	// OnReload is called with each new policy once it is in the Holder.
	OnReload func(p *Policy)
	// OnError is called when a changed policy does not load; the Holder keeps
	// the last good one. A *ValidationError names file, line and field.
	OnError func(err error)
	// Prepare, if set, turns each loaded policy into the one to serve (e.g.
	// adding the simulator's demo key). Its error counts as a failed reload.
	Prepare func(*Policy) (*Policy, error)
}

// Install finishes a reload from source (a directory or URL, for logs): when
// err is nil and p differs from the current policy (by Version), it runs
// Prepare, stores the result in h, logs and calls OnReload; when err (or
// Prepare's error) is not nil, h keeps its policy, and Install logs and calls
// OnError. A broken edit reverted to the policy in force is logged ("policy
// valid again") and reported to OnReload with that policy, so that whoever
// watched the error sees it end. It reports whether h changed. Watch and the
// s3source poller use it.
func (o WatchOptions) Install(h *Holder, p *Policy, err error, source string) bool {
	log := o.logger()
	cur := h.Load()
	if err == nil && cur != nil && cur.Version == p.Version {
		if h.failing.Swap(false) {
			log.Info("policy valid again", "source", source, "policy_version", cur.Version, "keys", len(cur.Keys))
			if o.OnReload != nil {
				o.OnReload(cur)
			}
		}
		return false
	}
	if err == nil && o.Prepare != nil {
		p, err = o.Prepare(p)
	}
	if err != nil {
		current := ""
		if cur != nil {
			current = cur.Version
		}
		h.failing.Store(true)
		log.Error("policy reload failed, keeping the last good policy",
			"source", source, "policy_version", current, "error", err.Error())
		if o.OnError != nil {
			o.OnError(err)
		}
		return false
	}
	h.Store(p)
	h.failing.Store(false)
	log.Info("policy reloaded", "source", source, "policy_version", p.Version, "keys", len(p.Keys))
	if o.OnReload != nil {
		o.OnReload(p)
	}
	return true
}

// Watch keeps h holding the policy of dir until ctx is cancelled, then
// returns nil. It reloads after file events settle (opts.Debounce) and,
// whatever the events, every opts.Rescan when the files' content hash
// changed: a change reaches new requests within a second, or within Rescan
// on filesystems that lose notifications. Edits saved in place or by atomic
// rename, and swaps of a symbolic link to the files or of dir itself
// (Kubernetes ConfigMap volumes swap a ..data link) are all seen. A policy
// that does not load is reported (opts.OnError, the log) once per distinct
// content, and the last good one stays. Requests keep the *Policy they
// loaded from h.
//
// Watch returns an error at once if dir cannot be watched. The caller loads
// the first policy into h: Watch does not report it again unless it changed.
func Watch(ctx context.Context, dir string, h *Holder, opts WatchOptions) error {
	if opts.Debounce <= 0 {
		opts.Debounce = DefaultDebounce
	}
	if opts.Rescan <= 0 {
		opts.Rescan = DefaultRescan
	}
	abs, err := filepath.Abs(dir)
	if err != nil {
		return fmt.Errorf("watch policy directory: %w", err)
	}
	w, err := fsnotify.NewWatcher()
	if err != nil {
		return fmt.Errorf("watch policy directory: %w", err)
	}
	defer w.Close()
	if err := w.Add(abs); err != nil {
		return fmt.Errorf("watch policy directory %s: %w", dir, err)
	}
	// The parent tells when dir itself is replaced (a symbolic link or a
	// renamed directory), after which dir's watch follows the old inode.
	parent := filepath.Dir(abs)
	parentWatched := parent != abs && w.Add(parent) == nil

	last := "" // the content (by version) or error last acted on
	if cur := h.Load(); cur != nil {
		last = cur.Version
	}
	check := func() {
		files, err := readDir(abs)
		seen := ""
		if err != nil {
			seen = "error: " + err.Error()
		} else {
			seen = Version(files)
		}
		if seen == last {
			return
		}
		last = seen
		var p *Policy
		if err == nil {
			p, err = Parse(files)
		}
		opts.Install(h, p, err, dir)
	}
	rewatch := func() {
		_ = w.Remove(abs) // fails when the kernel already dropped it
		if err := w.Add(abs); err != nil {
			opts.logger().Warn("policy directory cannot be watched yet, rescanning", "dir", dir, "error", err.Error())
		}
	}

	check() // a change between the caller's load and the watch
	debounce := time.NewTimer(opts.Debounce)
	debounce.Stop()
	rescan := time.NewTicker(opts.Rescan)
	defer rescan.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case ev, ok := <-w.Events:
			if !ok {
				return nil
			}
			if parentWatched && filepath.Dir(ev.Name) == parent && ev.Name != abs {
				continue // a sibling of dir
			}
			if ev.Name == abs {
				rewatch()
			}
			debounce.Reset(opts.Debounce)
		case err, ok := <-w.Errors:
			if !ok {
				return nil
			}
			opts.logger().Warn("policy watch error, rescanning", "dir", dir, "error", err.Error())
			debounce.Reset(opts.Debounce)
		case <-debounce.C:
			check()
		case <-rescan.C:
			if !slices.Contains(w.WatchList(), abs) {
				rewatch()
			}
			check()
		}
	}
}

func (o WatchOptions) logger() *slog.Logger {
	if o.Logger == nil {
		return slog.New(slog.DiscardHandler)
	}
	return o.Logger
}
