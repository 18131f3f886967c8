package main

import (
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

// lambdaSettings is what parseServe decides differently on Lambda.
type lambdaSettings struct {
	Lambda          bool
	Addr            string
	EMF             bool
	ShutdownTimeout time.Duration
}

func TestLambdaDefaults(t *testing.T) {
	const fn = "AWS_LAMBDA_FUNCTION_NAME"
	tests := []struct {
		name string
		env  []string
		want lambdaSettings
	}{
		{"not on Lambda", nil,
			lambdaSettings{Addr: "127.0.0.1:8080", ShutdownTimeout: 25 * time.Second}},
		{"not on Lambda, PORT set", []string{"PORT", "9000"},
			lambdaSettings{Addr: ":9000", ShutdownTimeout: 25 * time.Second}},
		{"Lambda, no port: where the adapter connects by default", []string{fn, "tollgate"},
			lambdaSettings{Lambda: true, Addr: "127.0.0.1:8080", EMF: true, ShutdownTimeout: lambdaShutdownTimeout}},
		{"Lambda, AWS_LWA_PORT", []string{fn, "tollgate", "AWS_LWA_PORT", "8000"},
			lambdaSettings{Lambda: true, Addr: ":8000", EMF: true, ShutdownTimeout: lambdaShutdownTimeout}},
		{"Lambda, PORT", []string{fn, "tollgate", "PORT", "9000"},
			lambdaSettings{Lambda: true, Addr: ":9000", EMF: true, ShutdownTimeout: lambdaShutdownTimeout}},
		{"Lambda, AWS_LWA_PORT wins over PORT, as in the adapter", []string{fn, "tollgate", "AWS_LWA_PORT", "8000", "PORT", "9000"},
			lambdaSettings{Lambda: true, Addr: ":8000", EMF: true, ShutdownTimeout: lambdaShutdownTimeout}},
		{"Lambda, explicit settings win", []string{fn, "tollgate", "TOLLGATE_ADDR", "127.0.0.1:7000",
			"TOLLGATE_EMF", "0", "TOLLGATE_SHUTDOWN_TIMEOUT", "100ms"},
			lambdaSettings{Lambda: true, Addr: "127.0.0.1:7000", ShutdownTimeout: 100 * time.Millisecond}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg, err := parseServe(&invocation{cmd: find(commands(), "serve"), getenv: env(tt.env...), stdout: io.Discard, stderr: io.Discard})
			if err != nil {
				t.Fatal(err)
			}
			got := lambdaSettings{Lambda: cfg.lambda, Addr: cfg.addr, EMF: cfg.emf, ShutdownTimeout: cfg.shutdownTimeout}
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("settings (-want +got):\n%s", diff)
			}
		})
	}
}

// Lambda gives the runtime 300 ms between SIGTERM and SIGKILL when an
// external extension (the Web Adapter) is registered.
func TestLambdaShutdownFitsLambdasWindow(t *testing.T) {
	if lambdaShutdownTimeout >= 300*time.Millisecond {
		t.Errorf("lambdaShutdownTimeout = %v, want under Lambda's 300 ms", lambdaShutdownTimeout)
	}
}

func TestLambdaRefusesTheEmbeddedStore(t *testing.T) {
	dir := t.TempDir()
	tests := []struct {
		name    string
		store   string
		wantErr string
	}{
		{"bolt", "bolt://" + dir + "/usage.db", "dynamodb://TABLE"},
		{"memory", "memory://", "dynamodb://TABLE"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			getenv := env("AWS_LAMBDA_FUNCTION_NAME", "tollgate", "TOLLGATE_STORE", tt.store)
			err := run(t.Context(), []string{"serve", "-sim", "-policies", dir, "-addr", "127.0.0.1:0", "-admin-addr", ""}, getenv, io.Discard, io.Discard)
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Errorf("run on Lambda with %s: err = %v, want one naming %s", tt.store, err, tt.wantErr)
			}
		})
	}
}

// On Lambda the metrics of a request are on stdout, as an EMF line, by the
// time its response has ended: an environment shut down right after holds
// nothing that still needs flushing.
func TestLambdaEMFLineWrittenByTheEndOfTheResponse(t *testing.T) {
	dir := t.TempDir()
	g := startGateway(t, map[string]string{
		"AWS_LAMBDA_FUNCTION_NAME":   "tollgate",
		"TOLLGATE_ALLOW_LOCAL_STORE": "1",
	}, "-sim", "-policies", dir, "-store", "memory://")

	for _, stream := range []bool{false, true} {
		status, hdr, _ := g.do(t, http.MethodPost, "/v1/chat/completions", DemoKey, "application/json", chatBody("hello", 20, stream))
		if status != http.StatusOK {
			t.Fatalf("stream=%v: status %d", stream, status)
		}
		id := hdr.Get("X-Request-Id")
		found := false
		for _, line := range strings.Split(strings.TrimSpace(g.stdout.String()), "\n") {
			var rec struct {
				AWS       json.RawMessage `json:"_aws"`
				RequestID string          `json:"RequestId"`
			}
			if json.Unmarshal([]byte(line), &rec) == nil && rec.RequestID == id && rec.AWS != nil {
				found = true
			}
		}
		if !found {
			t.Errorf("stream=%v: no EMF line for request %s on stdout when its response ended; stdout:\n%s", stream, id, g.stdout)
		}
	}
}
