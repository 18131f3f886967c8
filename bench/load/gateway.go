package main

// The OpenAI client side: plain and streamed chat completions through the
// gateway, over keep-alive connections.

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"time"
)

// newHTTPClient keeps up to conns idle connections to one host, so that c
// concurrent clients reuse theirs, and never uses a proxy.
func newHTTPClient(conns int) *http.Client {
	return &http.Client{Transport: &http.Transport{
		Proxy:               nil,
		MaxIdleConns:        conns,
		MaxIdleConnsPerHost: conns,
		IdleConnTimeout:     90 * time.Second,
		DisableCompression:  true,
	}}
}

// chatBody is an OpenAI chat completion request for the same conversation
// the bare-SDK worker sends.
func chatBody(model, prompt string, maxTokens int32, stream bool) []byte {
	req := map[string]any{
		"model":      model,
		"messages":   []map[string]string{{"role": "user", "content": prompt}},
		"max_tokens": maxTokens,
	}
	if stream {
		req["stream"] = true
	}
	b, _ := json.Marshal(req)
	return b
}

// chatCall returns a call that posts body to base/v1/chat/completions and
// reads the whole answer; for a stream it counts the data: chunks before
// data: [DONE] and fails if there is no [DONE].
func chatCall(client *http.Client, base, secret string, body []byte, stream bool) call {
	url := base + "/v1/chat/completions"
	return func(ctx context.Context) (int, error) {
		req, err := http.NewRequestWithContext(ctx, http.MethodPost, url, bytes.NewReader(body))
		if err != nil {
			return 0, err
		}
		req.Header.Set("Authorization", "Bearer "+secret)
		req.Header.Set("Content-Type", "application/json")
		resp, err := client.Do(req)
		if err != nil {
			return 0, err
		}
		defer resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			b, _ := io.ReadAll(io.LimitReader(resp.Body, 512))
			return 0, fmt.Errorf("status %d: %s", resp.StatusCode, b)
		}
		if !stream {
			_, err := io.Copy(io.Discard, resp.Body)
			return 0, err
		}
		return countChunks(resp.Body)
	}
}

func countChunks(r io.Reader) (int, error) {
	br := bufio.NewReader(r)
	n := 0
	for {
		line, err := br.ReadSlice('\n')
		if bytes.HasPrefix(line, []byte("data:")) {
			if bytes.Equal(bytes.TrimSpace(line[5:]), []byte("[DONE]")) {
				_, _ = io.Copy(io.Discard, br)
				return n, nil
			}
			n++
		}
		if errors.Is(err, bufio.ErrBufferFull) {
			return n, errors.New("SSE line longer than 4 KiB")
		}
		if err != nil {
			return n, fmt.Errorf("stream ended without data: [DONE] after %d chunks: %v", n, err)
		}
	}
}

// checkChat makes one plain and one streamed request and checks that the
// gateway answers a real chat completion, so that a misconfigured run fails
// loudly instead of timing error responses.
func checkChat(ctx context.Context, client *http.Client, base, secret, model, prompt string, maxTokens int32) error {
	req, _ := http.NewRequestWithContext(ctx, http.MethodPost, base+"/v1/chat/completions",
		bytes.NewReader(chatBody(model, prompt, maxTokens, false)))
	req.Header.Set("Authorization", "Bearer "+secret)
	req.Header.Set("Content-Type", "application/json")
	resp, err := client.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	var cc struct {
		Object  string
		Choices []struct{ Message struct{ Content string } }
	}
	if err := json.NewDecoder(resp.Body).Decode(&cc); err != nil || resp.StatusCode != http.StatusOK ||
		cc.Object != "chat.completion" || len(cc.Choices) != 1 || !strings.Contains(cc.Choices[0].Message.Content, "simulated") {
		return fmt.Errorf("the gateway did not answer a chat completion (status %d, %+v, %v)", resp.StatusCode, cc, err)
	}
	n, err := chatCall(client, base, secret, chatBody(model, prompt, maxTokens, true), true)(ctx)
	if err != nil || n < 3 {
		return fmt.Errorf("the gateway did not stream a chat completion (%d chunks, %v)", n, err)
	}
	return nil
}
