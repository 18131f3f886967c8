package s3source_test

import (
	"context"
	"errors"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/smithy-go/middleware"
	"github.com/google/go-cmp/cmp"

	"github.com/tollgate-gw/tollgate/internal/policy"
	"github.com/tollgate-gw/tollgate/internal/policy/s3source"
	"github.com/tollgate-gw/tollgate/internal/testsvc"
)

func TestPolicyParseURL(t *testing.T) {
	tests := []struct {
		url            string
		bucket, prefix string
		ok             bool
	}{
		{"s3://bucket/policies/", "bucket", "policies/", true},
		{"s3://bucket/policies", "bucket", "policies/", true},
		{"s3://bucket/a/b/", "bucket", "a/b/", true},
		{"s3://bucket/", "bucket", "", true},
		{"s3://bucket", "bucket", "", true},
		{"s3:///policies", "", "", false},
		{"./policies", "", "", false},
		{"https://bucket.s3.amazonaws.com/policies", "", "", false},
	}
	for _, tt := range tests {
		bucket, prefix, ok := s3source.ParseURL(tt.url)
		if diff := cmp.Diff([]any{tt.bucket, tt.prefix, tt.ok}, []any{bucket, prefix, ok}); diff != "" {
			t.Errorf("ParseURL(%q) (-want +got):\n%s", tt.url, diff)
		}
	}
}

// s3Client returns a client for s3rver that counts its GetObject calls.
func s3Client(t *testing.T, endpoint string, gets *atomic.Int64) *s3.Client {
	count := func(stack *middleware.Stack) error {
		return stack.Initialize.Add(middleware.InitializeMiddlewareFunc("countGetObject",
			func(ctx context.Context, in middleware.InitializeInput, next middleware.InitializeHandler) (middleware.InitializeOutput, middleware.Metadata, error) {
				if _, ok := in.Parameters.(*s3.GetObjectInput); ok {
					gets.Add(1)
				}
				return next.HandleInitialize(ctx, in)
			}), middleware.Before)
	}
	return s3.New(s3.Options{
		Region:                     "us-east-1",
		BaseEndpoint:               aws.String(endpoint),
		UsePathStyle:               true,
		Credentials:                credentials.NewStaticCredentialsProvider(testsvc.S3Credentials, testsvc.S3Credentials, ""),
		RequestChecksumCalculation: aws.RequestChecksumCalculationWhenRequired,
		ResponseChecksumValidation: aws.ResponseChecksumValidationWhenRequired,
		APIOptions:                 []func(*middleware.Stack) error{count},
	})
}

func key(id string) string {
	return "  - id: " + id + "\n    sha256: " + policy.HashSecret(id) + "\n"
}

func TestPolicyS3(t *testing.T) {
	ctx := context.Background()
	var gets atomic.Int64
	client := s3Client(t, testsvc.S3(t), &gets)
	const bucket = "tollgate-policies"
	if _, err := client.CreateBucket(ctx, &s3.CreateBucketInput{Bucket: aws.String(bucket)}); err != nil {
		t.Fatal(err)
	}
	put := func(key, content string) {
		t.Helper()
		if _, err := client.PutObject(ctx, &s3.PutObjectInput{Bucket: aws.String(bucket), Key: aws.String(key), Body: strings.NewReader(content)}); err != nil {
			t.Fatal(err)
		}
	}
	put("prod/keys.yaml", "keys:\n"+key("a")+"  - id: b\n    sha256: "+policy.HashSecret("b")+"\n    team: research\n")
	put("prod/teams.yml", "teams:\n  - id: research\n    monthly_budget_usd: 100\n")
	put("prod/README.md", "not a policy")
	put("prod/old/keys.yaml", "not: [valid") // a subfolder is not read
	put("staging/keys.yaml", "not: [valid")  // nor another prefix

	bucketName, prefix, ok := s3source.ParseURL("s3://" + bucket + "/prod")
	if !ok {
		t.Fatal("ParseURL failed")
	}
	p, state, err := s3source.Load(ctx, client, bucketName, prefix)
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff([]string{"prod/keys.yaml", "prod/teams.yml"}, state.Keys()); diff != "" {
		t.Errorf("objects read (-want +got):\n%s", diff)
	}
	if got := keyIDs(p); got != "a,b" || len(p.Teams()) != 1 {
		t.Errorf("loaded keys %s and %d teams, want a,b and 1", got, len(p.Teams()))
	}
	if n := gets.Load(); n != 2 {
		t.Errorf("Load made %d GetObject calls, want 2", n)
	}

	h := policy.NewHolder(p)
	reloads := make(chan *policy.Policy, 10)
	errs := make(chan error, 10)
	opts := policy.WatchOptions{
		OnReload: func(p *policy.Policy) { reloads <- p },
		OnError:  func(err error) { errs <- err },
	}
	pollCtx, cancel := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() {
		done <- s3source.Poll(pollCtx, client, bucketName, prefix, 50*time.Millisecond, h, opts, state)
	}()
	defer func() {
		cancel()
		select {
		case err := <-done:
			if err != nil {
				t.Errorf("Poll returned %v after cancellation, want nil", err)
			}
		case <-time.After(5 * time.Second):
			t.Error("Poll did not return after cancellation")
		}
	}()
	next := func() (*policy.Policy, error) {
		t.Helper()
		select {
		case p := <-reloads:
			return p, nil
		case err := <-errs:
			return nil, err
		case <-time.After(5 * time.Second):
			t.Fatal("the poller reported nothing within 5s")
		}
		return nil, nil
	}

	// Unchanged objects are not fetched again, and the policy stays the same
	// object.
	time.Sleep(300 * time.Millisecond)
	if n := gets.Load(); n != 2 {
		t.Errorf("%d GetObject calls while nothing changed, want none after Load's 2", n-2)
	}
	if h.Load() != p {
		t.Error("the policy was replaced while nothing changed")
	}
	select {
	case p := <-reloads:
		t.Errorf("reloaded version %s while nothing changed", p.Version)
	case err := <-errs:
		t.Errorf("reload error while nothing changed: %v", err)
	default:
	}

	// An edit (a new ETag) is fetched, alone, and swapped in.
	put("prod/keys.yaml", "keys:\n"+key("a")+key("c"))
	p2, err := next()
	if err != nil {
		t.Fatal(err)
	}
	if got := keyIDs(p2); got != "a,c" || h.Load() != p2 {
		t.Errorf("after an edit: keys %s (held: %v), want a,c", got, h.Load() == p2)
	}
	if n := gets.Load(); n != 3 {
		t.Errorf("%d GetObject calls after one edit, want 3", n)
	}

	// A broken edit is reported with the object's URL and line, once; the
	// last good policy stays.
	put("prod/teams.yml", "teams:\n  - id: research\n    monthly_budget_usd: -1\n")
	_, err = next()
	var ve *policy.ValidationError
	if want := "s3://tollgate-policies/prod/teams.yml:3: teams[0].monthly_budget_usd: -1 must not be negative"; !errors.As(err, &ve) || err.Error() != want {
		t.Errorf("reload error = %v, want %q", err, want)
	}
	if h.Load() != p2 {
		t.Error("a broken edit replaced the policy")
	}
	time.Sleep(200 * time.Millisecond)
	select {
	case err := <-errs:
		t.Errorf("the same broken policy was reported again: %v", err)
	default:
	}

	// Fixing it, and removing an object, are both seen.
	put("prod/teams.yml", "teams:\n  - id: research\n")
	if _, err := next(); err != nil {
		t.Fatal(err)
	}
	put("prod/more.yaml", "keys:\n"+key("d"))
	if p, err := next(); err != nil || keyIDs(p) != "a,c,d" {
		t.Errorf("after adding an object: keys %s, err %v; want a,c,d", keyIDs(p), err)
	}
	if _, err := client.DeleteObject(ctx, &s3.DeleteObjectInput{Bucket: aws.String(bucket), Key: aws.String("prod/more.yaml")}); err != nil {
		t.Fatal(err)
	}
	if p, err := next(); err != nil || keyIDs(p) != "a,c" {
		t.Errorf("after deleting an object: keys %s, err %v; want a,c", keyIDs(p), err)
	}
}

func TestPolicyS3Errors(t *testing.T) {
	ctx := context.Background()
	var gets atomic.Int64
	client := s3Client(t, testsvc.S3(t), &gets)
	if _, _, err := s3source.Load(ctx, client, "no-such-bucket", ""); err == nil || !strings.Contains(err.Error(), "list s3://no-such-bucket/") {
		t.Errorf("Load of a missing bucket: %v", err)
	}
	if _, err := client.CreateBucket(ctx, &s3.CreateBucketInput{Bucket: aws.String("bkt")}); err != nil {
		t.Fatal(err)
	}
	if _, err := client.PutObject(ctx, &s3.PutObjectInput{Bucket: aws.String("bkt"), Key: aws.String("p.yaml"), Body: strings.NewReader("keys:\n  - id: a\n    sha256: x\n")}); err != nil {
		t.Fatal(err)
	}
	_, state, err := s3source.Load(ctx, client, "bkt", "")
	if want := `s3://bkt/p.yaml:3: keys[0].sha256: key "a" needs the 64 hex digits of the secret's SHA-256 (tollgate key new prints them)`; err == nil || err.Error() != want {
		t.Errorf("Load error = %v, want %q", err, want)
	}
	if diff := cmp.Diff([]string{"p.yaml"}, state.Keys()); diff != "" {
		t.Errorf("state after a failed load (-want +got):\n%s", diff)
	}
}

func keyIDs(p *policy.Policy) string {
	if p == nil {
		return ""
	}
	var ids []string
	for _, k := range p.Keys {
		ids = append(ids, k.ID)
	}
	return strings.Join(ids, ",")
}
