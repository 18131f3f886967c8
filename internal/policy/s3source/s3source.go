// Package s3source loads a policy from the *.yaml and *.yml objects under an
// S3 prefix, and keeps it current by polling, for gateways that run where a
// directory cannot be shared (several tasks, Lambda).
//
// The caller builds the S3 client from the standard AWS configuration chain
// (AWS_ENDPOINT_URL_S3 points it at an S3-compatible store; such stores
// usually need path-style addressing).
package s3source

import (
	"context"
	"errors"
	"fmt"
	"io"
	"maps"
	"net/http"
	"slices"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	awshttp "github.com/aws/aws-sdk-go-v2/aws/transport/http"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"

	"github.com/tollgate-gw/tollgate/internal/policy"
)

// DefaultInterval is how often Poll lists the prefix when not told.
const DefaultInterval = 30 * time.Second

// State is what a Load or Poll last read: each policy object's ETag and
// content, so that the next poll fetches only objects that changed. The zero
// State has read nothing.
type State struct {
	objects map[string]object // by object key
}

type object struct {
	etag string
	body []byte
}

// ParseURL splits s3://bucket/prefix into its bucket and prefix. A non-empty
// prefix is a folder: it gets a trailing '/' if it has none, so
// s3://b/policies and s3://b/policies/ both read policies/*.yaml.
func ParseURL(url string) (bucket, prefix string, ok bool) {
	rest, ok := strings.CutPrefix(url, "s3://")
	if !ok {
		return "", "", false
	}
	bucket, prefix, _ = strings.Cut(rest, "/")
	if bucket == "" {
		return "", "", false
	}
	if prefix != "" && !strings.HasSuffix(prefix, "/") {
		prefix += "/"
	}
	return bucket, prefix, true
}

// Load reads and validates the policy objects directly under prefix (not in
// its subfolders). Problems name each object as s3://bucket/key with the
// line. The State is returned even when the policy does not validate, for
// Poll to start from.
func Load(ctx context.Context, client *s3.Client, bucket, prefix string) (*policy.Policy, State, error) {
	st, _, err := fetch(ctx, client, bucket, prefix, State{})
	if err != nil {
		return nil, st, err
	}
	p, err := policy.Parse(st.files(bucket))
	return p, st, err
}

// Poll keeps h holding the policy under s3://bucket/prefix until ctx is
// cancelled, then returns nil. Every interval (0 means DefaultInterval) it
// lists the prefix, fetches the objects whose ETag changed since state (a
// conditional GET: 304 Not Modified counts as unchanged) and, when any
// object was added, changed or removed, validates the whole policy and
// installs it through opts.Install, as policy.Watch does for a directory: a
// policy that does not validate is reported once and the last good one
// stays. A failed listing or fetch is reported through opts too, and retried
// at the next interval.
func Poll(ctx context.Context, client *s3.Client, bucket, prefix string, interval time.Duration, h *policy.Holder, opts policy.WatchOptions, state State) error {
	if interval <= 0 {
		interval = DefaultInterval
	}
	source := "s3://" + bucket + "/" + prefix
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
		}
		next, changed, err := fetch(ctx, client, bucket, prefix, state)
		if ctx.Err() != nil {
			return nil
		}
		if err != nil {
			opts.Install(h, nil, err, source)
			continue
		}
		if !changed {
			continue
		}
		state = next
		p, err := policy.Parse(next.files(bucket))
		opts.Install(h, p, err, source)
	}
}

// fetch lists prefix and returns the new state, fetching only objects whose
// ETag differs from prev, and whether anything differs from prev.
func fetch(ctx context.Context, client *s3.Client, bucket, prefix string, prev State) (State, bool, error) {
	next := State{objects: map[string]object{}}
	changed := false
	pages := s3.NewListObjectsV2Paginator(client, &s3.ListObjectsV2Input{
		Bucket:    aws.String(bucket),
		Prefix:    aws.String(prefix),
		Delimiter: aws.String("/"),
	})
	for pages.HasMorePages() {
		page, err := pages.NextPage(ctx)
		if err != nil {
			return prev, false, fmt.Errorf("list s3://%s/%s: %w", bucket, prefix, err)
		}
		for _, o := range page.Contents {
			key, etag := aws.ToString(o.Key), aws.ToString(o.ETag)
			if !policy.IsPolicyFile(key) {
				continue
			}
			old, had := prev.objects[key]
			if had && old.etag == etag {
				next.objects[key] = old
				continue
			}
			got, found, err := get(ctx, client, bucket, key, old, had)
			if err != nil {
				return prev, false, err
			}
			if !found {
				continue // deleted since the listing
			}
			if got.etag == "" {
				got.etag = etag
			}
			next.objects[key] = got
			changed = changed || !had || got.etag != old.etag
		}
	}
	for key := range prev.objects {
		if _, ok := next.objects[key]; !ok {
			changed = true
		}
	}
	return next, changed, nil
}

// get fetches one object, conditionally on old's ETag when had.
func get(ctx context.Context, client *s3.Client, bucket, key string, old object, had bool) (object, bool, error) {
	in := &s3.GetObjectInput{Bucket: aws.String(bucket), Key: aws.String(key)}
	if had {
		in.IfNoneMatch = aws.String(old.etag)
	}
	out, err := client.GetObject(ctx, in)
	var re *awshttp.ResponseError
	var noKey *types.NoSuchKey
	switch {
	case errors.As(err, &re) && re.HTTPStatusCode() == http.StatusNotModified:
		return old, true, nil
	case errors.As(err, &noKey):
		return object{}, false, nil
	case err != nil:
		return object{}, false, fmt.Errorf("get s3://%s/%s: %w", bucket, key, err)
	}
	defer out.Body.Close()
	body, err := io.ReadAll(out.Body)
	if err != nil {
		return object{}, false, fmt.Errorf("read s3://%s/%s: %w", bucket, key, err)
	}
	return object{etag: aws.ToString(out.ETag), body: body}, true, nil
}

// files names each object's content by its s3:// URL, for policy.Parse.
func (s State) files(bucket string) map[string][]byte {
	files := make(map[string][]byte, len(s.objects))
	for key, o := range s.objects {
		files["s3://"+bucket+"/"+key] = o.body
	}
	return files
}

// Keys returns the object keys the state holds, sorted, for logs and tests.
func (s State) Keys() []string { return slices.Sorted(maps.Keys(s.objects)) }
