package main

// The baseline: bare aws-sdk-go-v2 bedrockruntime calls against the same
// simulator, made by a child process (this program re-executed with
// -sdk-worker) so that its CPU time is the SDK's and nothing else's.

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"strconv"
	"syscall"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	awshttp "github.com/aws/aws-sdk-go-v2/aws/transport/http"
	"github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/bedrockruntime"
	"github.com/aws/aws-sdk-go-v2/service/bedrockruntime/types"
)

// sdkJob is what the parent asks of a bare-SDK worker.
type sdkJob struct {
	SimURL      string
	Model       string
	Prompt      string
	MaxTokens   int32
	Stream      bool
	Requests    int
	Concurrency int
	Warmup      int
	Duration    time.Duration
	// MaxIdleConnsPerHost overrides the SDK's default HTTP transport's
	// (10) when positive.
	MaxIdleConnsPerHost int
}

func (j sdkJob) args() []string {
	return []string{"-sdk-worker",
		"-sim-url", j.SimURL, "-model", j.Model, "-prompt", j.Prompt,
		"-max-tokens", strconv.Itoa(int(j.MaxTokens)), "-stream=" + strconv.FormatBool(j.Stream),
		"-requests", strconv.Itoa(j.Requests), "-concurrency", strconv.Itoa(j.Concurrency),
		"-warmup", strconv.Itoa(j.Warmup), "-duration", j.Duration.String(),
		"-sdk-max-idle-per-host", strconv.Itoa(j.MaxIdleConnsPerHost)}
}

// runSDKChild runs job in a child process and returns what it measured.
func runSDKChild(ctx context.Context, job sdkJob) (result, error) {
	self, err := os.Executable()
	if err != nil {
		return result{}, err
	}
	ctx, cancel := context.WithTimeout(ctx, job.Duration+30*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, self, job.args()...)
	cmd.Env = baseEnv(os.TempDir()) // no AWS configuration of the user's leaks in
	cmd.Stderr = os.Stderr
	out, err := cmd.Output()
	if err != nil {
		return result{}, fmt.Errorf("bare-SDK worker: %w", err)
	}
	var res result
	if err := json.Unmarshal(out, &res); err != nil {
		return result{}, fmt.Errorf("bare-SDK worker output: %w", err)
	}
	return res, nil
}

// sdkWorker is the child's side: warm up, then run the job while measuring
// its own CPU time with getrusage, and print the result as JSON on stdout.
func sdkWorker(job sdkJob, stdout io.Writer) error {
	ctx, cancel := context.WithTimeout(context.Background(), job.Duration)
	defer cancel()
	rt, err := newSDKClient(ctx, job.SimURL, job.MaxIdleConnsPerHost)
	if err != nil {
		return err
	}
	msgs := []types.Message{{Role: types.ConversationRoleUser,
		Content: []types.ContentBlock{&types.ContentBlockMemberText{Value: job.Prompt}}}}
	inf := &types.InferenceConfiguration{MaxTokens: aws.Int32(job.MaxTokens)}
	do := func(ctx context.Context) (int, error) {
		out, err := rt.Converse(ctx, &bedrockruntime.ConverseInput{ModelId: &job.Model, Messages: msgs, InferenceConfig: inf})
		if err != nil {
			return 0, err
		}
		if _, ok := out.Output.(*types.ConverseOutputMemberMessage); !ok {
			return 0, errors.New("no message in the Converse output")
		}
		return 0, nil
	}
	if job.Stream {
		do = func(ctx context.Context) (int, error) {
			out, err := rt.ConverseStream(ctx, &bedrockruntime.ConverseStreamInput{ModelId: &job.Model, Messages: msgs, InferenceConfig: inf})
			if err != nil {
				return 0, err
			}
			s := out.GetStream()
			defer s.Close()
			n, stopped := 0, false
			for ev := range s.Events() {
				n++
				if _, ok := ev.(*types.ConverseStreamOutputMemberMetadata); ok {
					stopped = true
				}
			}
			if err := s.Err(); err != nil {
				return n, err
			}
			if !stopped {
				return n, errors.New("stream ended without metadata")
			}
			return n, nil
		}
	}
	if w := drive(ctx, job.Warmup, job.Concurrency, do); w.Errors > 0 {
		return fmt.Errorf("warm-up: %d errors, first: %s", w.Errors, w.FirstErr)
	}
	port, err := portOf(job.SimURL)
	if err != nil {
		return err
	}
	tw := timeWaitTo(port)
	before := rusageMicros()
	res := drive(ctx, job.Requests, job.Concurrency, do)
	res.CPUMicros = rusageMicros() - before
	res.TimeWaits = closedSince(tw, timeWaitTo(port))
	return json.NewEncoder(stdout).Encode(res)
}

// newSDKClient is a Bedrock runtime client of the SDK's default
// configuration, static credentials and endpoint simURL; idle, when
// positive, is how many idle connections its transport keeps (the SDK's
// default is 10 per host).
func newSDKClient(ctx context.Context, simURL string, idle int, opts ...func(*bedrockruntime.Options)) (*bedrockruntime.Client, error) {
	cfg, err := config.LoadDefaultConfig(ctx, config.WithRegion("us-east-1"),
		config.WithCredentialsProvider(credentials.NewStaticCredentialsProvider("x", "x", "")))
	if err != nil {
		return nil, err
	}
	return bedrockruntime.NewFromConfig(cfg, func(o *bedrockruntime.Options) {
		o.BaseEndpoint = aws.String(simURL)
		if idle > 0 {
			o.HTTPClient = awshttp.NewBuildableClient().WithTransportOptions(func(t *http.Transport) {
				t.MaxIdleConns, t.MaxIdleConnsPerHost = max(t.MaxIdleConns, idle), idle
			})
		}
		for _, f := range opts {
			f(o)
		}
	}), nil
}

// rusageMicros is this process's user+system CPU time, in microseconds.
func rusageMicros() int64 {
	var ru syscall.Rusage
	_ = syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return ru.Utime.Nano()/1000 + ru.Stime.Nano()/1000
}
