package converse_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/bedrockruntime"

	"github.com/tollgate-gw/tollgate"
)

// This file holds the helpers the request and response tests share. They run
// the real AWS SDK against a stub HTTP client, so that the tests compare the
// JSON Bedrock would receive, and decode responses exactly as the SDK does
// (documents included).

type stubHTTP func(*http.Request) (*http.Response, error)

func (f stubHTTP) Do(r *http.Request) (*http.Response, error) { return f(r) }

// newStubClient returns a Bedrock client that hands every request body to
// seen and answers with body.
func newStubClient(body string, seen func(path string, body []byte)) *bedrockruntime.Client {
	creds := aws.CredentialsProviderFunc(func(context.Context) (aws.Credentials, error) {
		return aws.Credentials{AccessKeyID: "AKIDTEST", SecretAccessKey: "secret"}, nil
	})
	return bedrockruntime.New(bedrockruntime.Options{
		Region:      "us-east-1",
		Credentials: creds,
		HTTPClient: stubHTTP(func(r *http.Request) (*http.Response, error) {
			b, err := io.ReadAll(r.Body)
			if err != nil {
				return nil, err
			}
			if seen != nil {
				seen(r.URL.Path, b)
			}
			return &http.Response{
				StatusCode: http.StatusOK,
				Header:     http.Header{"Content-Type": {"application/json"}},
				Body:       io.NopCloser(strings.NewReader(body)),
			}, nil
		}),
	})
}

const okAnswer = `{"output":{"message":{"role":"assistant","content":[{"text":"ok"}]}},"stopReason":"end_turn","usage":{"inputTokens":1,"outputTokens":1,"totalTokens":2}}`

// wireBody returns the JSON body the SDK sends to Bedrock for in, decoded
// with exact numbers, and the request path.
func wireBody(t testing.TB, in *bedrockruntime.ConverseInput) (any, string) {
	t.Helper()
	var body []byte
	var path string
	c := newStubClient(okAnswer, func(p string, b []byte) { path, body = p, b })
	if _, err := c.Converse(context.Background(), in); err != nil {
		t.Fatalf("the SDK refused the input: %v", err)
	}
	return decodeExact(t, body), path
}

// converseOutput decodes a Bedrock Converse response body the way the SDK
// does.
func converseOutput(t testing.TB, body string) *bedrockruntime.ConverseOutput {
	t.Helper()
	c := newStubClient(body, nil)
	in := &bedrockruntime.ConverseInput{ModelId: aws.String("m")}
	out, err := c.Converse(context.Background(), in)
	if err != nil {
		t.Fatalf("the SDK refused the response: %v", err)
	}
	return out
}

// decodeExact decodes JSON keeping numbers as written.
func decodeExact(t testing.TB, data []byte) any {
	t.Helper()
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.UseNumber()
	var v any
	if err := dec.Decode(&v); err != nil {
		t.Fatalf("invalid JSON %s: %v", data, err)
	}
	return v
}

// asError asserts that err is a *tollgate.Error.
func asError(t *testing.T, err error) *tollgate.Error {
	t.Helper()
	var e *tollgate.Error
	if !errors.As(err, &e) {
		t.Fatalf("error %v (%T) is not a *tollgate.Error", err, err)
	}
	return e
}
