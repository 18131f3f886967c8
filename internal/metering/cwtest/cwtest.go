// Package cwtest is a fake CloudWatch PutMetricData endpoint for tests: it
// decodes what the AWS SDK sends (Smithy RPC v2 CBOR, gzip) and records it.
package cwtest

import (
	"compress/gzip"
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/cloudwatch"
	"github.com/aws/smithy-go/encoding/cbor"
)

// Datum is a MetricDatum as the fake CloudWatch decoded it from the wire.
type Datum struct {
	Name                 string
	Dims                 string // "KeyId=k1,Model=claude"
	Time                 time.Time
	Unit                 string
	Count, Sum, Min, Max float64
}

type Call struct {
	OK        bool
	Gzip      bool // the body was gzip-compressed
	Bytes     int  // the body's size, uncompressed
	Namespace string
	Data      []Datum
}

// Server is CloudWatch's PutMetricData as the SDK talks to it: the
// Smithy RPC v2 CBOR protocol (POST /service/GraniteServiceVersion20100801/
// operation/PutMetricData, Content-Type application/cbor, gzip above the
// SDK's compression threshold).
type Server struct {
	URL  string        // the endpoint, for BaseEndpoint or AWS_ENDPOINT_URL_CLOUDWATCH
	Hold chan struct{} // if not nil, each call waits for it to be closed

	t    testing.TB
	srv  *httptest.Server
	fail func(call int) bool // nil: every call succeeds

	mu    sync.Mutex
	calls []Call
}

// New starts a fake CloudWatch for the test; fail, when not nil, says which
// calls (counted from 0) fail with a 500.
func New(t testing.TB, fail func(int) bool) *Server {
	f := &Server{t: t, fail: fail}
	f.srv = httptest.NewServer(http.HandlerFunc(f.serve))
	f.URL = f.srv.URL
	t.Cleanup(f.srv.Close)
	return f
}

func (f *Server) serve(w http.ResponseWriter, r *http.Request) {
	if f.Hold != nil {
		<-f.Hold
	}
	call, err := decodePut(r)
	if err != nil {
		f.t.Errorf("fake CloudWatch: %v", err)
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	f.mu.Lock()
	n := len(f.calls)
	call.OK = f.fail == nil || !f.fail(n)
	f.calls = append(f.calls, call)
	f.mu.Unlock()

	w.Header().Set("Content-Type", "application/cbor")
	w.Header().Set("Smithy-Protocol", "rpc-v2-cbor")
	if !call.OK {
		w.WriteHeader(http.StatusInternalServerError)
		w.Write(cbor.Encode(cbor.Map{"__type": cbor.String("InternalServiceFault"), "Message": cbor.String("injected")}))
		return
	}
	w.Write(cbor.Encode(cbor.Map{}))
}

func decodePut(r *http.Request) (Call, error) {
	if r.Method != http.MethodPost || r.URL.Path != "/service/GraniteServiceVersion20100801/operation/PutMetricData" {
		return Call{}, fmt.Errorf("unexpected %s %s", r.Method, r.URL.Path)
	}
	if ct, p := r.Header.Get("Content-Type"), r.Header.Get("Smithy-Protocol"); ct != "application/cbor" || p != "rpc-v2-cbor" {
		return Call{}, fmt.Errorf("Content-Type %q, Smithy-Protocol %q: not RPC v2 CBOR", ct, p)
	}
	if !strings.HasPrefix(r.Header.Get("Authorization"), "AWS4-HMAC-SHA256 ") {
		return Call{}, fmt.Errorf("request not signed with SigV4")
	}
	var body io.Reader = r.Body
	gzipped := r.Header.Get("Content-Encoding") == "gzip"
	if gzipped {
		zr, err := gzip.NewReader(r.Body)
		if err != nil {
			return Call{}, err
		}
		body = zr
	}
	raw, err := io.ReadAll(body)
	if err != nil {
		return Call{}, err
	}
	v, err := cbor.Decode(raw)
	if err != nil {
		return Call{}, err
	}
	in, ok := v.(cbor.Map)
	if !ok {
		return Call{}, fmt.Errorf("body is %T, want a map", v)
	}
	call := Call{Gzip: gzipped, Bytes: len(raw), Namespace: string(in["Namespace"].(cbor.String))}
	for _, d := range in["MetricData"].(cbor.List) {
		d := d.(cbor.Map)
		var dims []string
		for _, dim := range d["Dimensions"].(cbor.List) {
			dim := dim.(cbor.Map)
			dims = append(dims, string(dim["Name"].(cbor.String))+"="+string(dim["Value"].(cbor.String)))
		}
		ts, err := cbor.AsTime(d["Timestamp"])
		if err != nil {
			return Call{}, err
		}
		sv := d["StatisticValues"].(cbor.Map)
		f := func(k string) float64 {
			x, err := cbor.AsFloat64(sv[k])
			if err != nil {
				panic(err)
			}
			return x
		}
		call.Data = append(call.Data, Datum{
			Name: string(d["MetricName"].(cbor.String)), Dims: strings.Join(dims, ","), Time: ts.UTC(),
			Unit: string(d["Unit"].(cbor.String)), Count: f("SampleCount"), Sum: f("Sum"), Min: f("Minimum"), Max: f("Maximum"),
		})
	}
	return call, nil
}

// Calls returns the PutMetricData calls received so far.
func (f *Server) Calls() []Call {
	f.mu.Lock()
	defer f.mu.Unlock()
	return slices.Clone(f.calls)
}

// Client returns an SDK client pointed at the fake, with the SDK's own retries
// off so that the counts below are the meter's, and the compression threshold
// that config.LoadDefaultConfig sets.
func (f *Server) Client() *cloudwatch.Client {
	return cloudwatch.New(cloudwatch.Options{
		Region:       "us-east-1",
		BaseEndpoint: aws.String(f.URL),
		Credentials: aws.CredentialsProviderFunc(func(context.Context) (aws.Credentials, error) {
			return aws.Credentials{AccessKeyID: "AKIDEXAMPLE", SecretAccessKey: "secret"}, nil
		}),
		RetryMaxAttempts:            1,
		RequestMinCompressSizeBytes: 10240,
	})
}
