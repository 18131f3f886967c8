package main

import (
	"io"
	"net/http"
	"strings"
	"testing"
)

// TestH2C: the listener speaks HTTP/2 in cleartext with prior knowledge, as
// well as HTTP/1.1, plain and streamed.
func TestH2C(t *testing.T) {
	g := simGateway(t)
	var h2c http.Protocols
	h2c.SetUnencryptedHTTP2(true)
	client := &http.Client{Transport: &http.Transport{Protocols: &h2c}}
	for _, stream := range []string{"false", "true"} {
		req, err := http.NewRequest(http.MethodPost, g.baseURL+"/v1/chat/completions", strings.NewReader(
			`{"model":"anthropic.claude-3-haiku-20240307-v1:0","stream":`+stream+`,"messages":[{"role":"user","content":"Hello"}]}`))
		if err != nil {
			t.Fatal(err)
		}
		req.Header.Set("Authorization", "Bearer "+DemoKey)
		req.Header.Set("Content-Type", "application/json")
		resp, err := client.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		body, err := io.ReadAll(resp.Body)
		resp.Body.Close()
		if err != nil || resp.StatusCode != http.StatusOK || resp.Proto != "HTTP/2.0" || !strings.Contains(string(body), "simulated reply") {
			t.Errorf("stream %s: %s %d %v: %s", stream, resp.Proto, resp.StatusCode, err, body)
		}
	}
	resp, err := http.Get(g.baseURL + "/healthz")
	if err != nil || resp.Proto != "HTTP/1.1" || resp.StatusCode != http.StatusOK {
		t.Errorf("HTTP/1.1: %v %v", resp, err)
	}
	resp.Body.Close()
}
