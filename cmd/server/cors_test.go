package main

import (
	"io"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// TestCORSOriginsSetting: -cors-origins and TOLLGATE_CORS_ORIGINS name the
// origins browser pages may call from, the flag winning; a value that is
// not an origin stops the gateway before it starts, saying what to write.
func TestCORSOriginsSetting(t *testing.T) {
	tests := []struct {
		name    string
		args    []string
		env     []string
		want    []string
		wantErr string
	}{
		{"default: none", nil, nil, nil, ""},
		{"flag", []string{"-cors-origins", "https://app.example.com, http://localhost:*"}, nil,
			[]string{"https://app.example.com", "http://localhost:*"}, ""},
		{"environment", nil, []string{"TOLLGATE_CORS_ORIGINS", "https://*.example.com"}, []string{"https://*.example.com"}, ""},
		{"the flag wins", []string{"-cors-origins", "https://a.example.com"}, []string{"TOLLGATE_CORS_ORIGINS", "*"}, []string{"https://a.example.com"}, ""},
		{"a URL, not an origin", []string{"-cors-origins", "https://app.example.com/chat"}, nil, nil,
			`-cors-origins (env TOLLGATE_CORS_ORIGINS): "https://app.example.com/chat": an origin has no path, query or fragment: write https://app.example.com`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg, err := parseServe(&invocation{cmd: find(commands(), "serve"), args: tt.args, getenv: env(tt.env...), stdout: io.Discard, stderr: io.Discard})
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("err = %v, want one saying %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(tt.want, cfg.corsOrigins); diff != "" {
				t.Errorf("origins (-want +got):\n%s", diff)
			}
		})
	}
}
