package main

import (
	"bytes"
	"context"
	"errors"
	"image"
	"image/color"
	"image/png"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/openai/openai-go/v3"
)

// imageServer serves a small PNG (under a misleading name and type) and a
// text file, counting the requests it gets.
func imageServer(t *testing.T) (*httptest.Server, *atomic.Int64) {
	t.Helper()
	img := image.NewRGBA(image.Rect(0, 0, 4, 4))
	img.Set(1, 1, color.RGBA{R: 255, A: 255})
	var buf bytes.Buffer
	if err := png.Encode(&buf, img); err != nil {
		t.Fatal(err)
	}
	var hits atomic.Int64
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		hits.Add(1)
		switch r.URL.Path {
		case "/cat.jpg":
			w.Header().Set("Content-Type", "image/jpeg") // the bytes decide: it is a PNG
			w.Write(buf.Bytes())
		default:
			w.Header().Set("Content-Type", "image/png")
			w.Write([]byte("not an image at all"))
		}
	}))
	t.Cleanup(srv.Close)
	return srv, &hits
}

func imageMessage(url string) []openai.ChatCompletionMessageParamUnion {
	return []openai.ChatCompletionMessageParamUnion{openai.UserMessage([]openai.ChatCompletionContentPartUnionParam{
		openai.TextContentPart("What is in this picture?"),
		openai.ImageContentPart(openai.ChatCompletionContentPartImageImageURLParam{URL: url}),
	})}
}

// TestImageByURL: the official SDK sends an image by URL; the gateway
// fetches it through its SSRF guard (here told to allow the local test
// server) and Bedrock gets the bytes.
func TestImageByURL(t *testing.T) {
	srv, hits := imageServer(t)
	g := simGateway(t, "-image-allow-private", "127.0.0.1/32")
	client := g.client(t, DemoKey)
	resp, err := client.Chat.Completions.New(context.Background(), openai.ChatCompletionNewParams{
		Model: haiku, Messages: imageMessage(srv.URL + "/cat.jpg"),
	})
	if err != nil {
		t.Fatal(err)
	}
	// The simulator bills an image 1,600 tokens: the gateway sent it.
	if resp.Usage.PromptTokens < 1600 || hits.Load() != 1 {
		t.Errorf("prompt tokens %d, image server hits %d", resp.Usage.PromptTokens, hits.Load())
	}
}

// TestImageURLRefused: by default the SSRF guard refuses private and
// metadata addresses before connecting; a non-image is refused too. Each
// is a 400 naming the part.
func TestImageURLRefused(t *testing.T) {
	srv, hits := imageServer(t)
	g := simGateway(t)
	allowing := simGateway(t, "-image-allow-private", "127.0.0.1/32")
	noFetch := simGateway(t, "-image-fetch=false")
	tests := []struct {
		name     string
		gw       *gateway
		url      string
		wantCode string
		wantMsg  string
	}{
		{"loopback", g, srv.URL + "/cat.jpg", "invalid_image_url", "may not fetch from"},
		{"metadata service", g, "http://169.254.169.254/latest/meta-data/", "invalid_image_url", "may not fetch from"},
		{"numeric host trick", g, "http://2130706433/cat.jpg", "invalid_image_url", ""},
		{"not an image", allowing, srv.URL + "/notes.txt", "invalid_image_url", "image"},
		{"fetching off", noFetch, srv.URL + "/cat.jpg", "unsupported_value", "data: URL"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			before := hits.Load()
			client := tt.gw.client(t, DemoKey)
			_, err := client.Chat.Completions.New(context.Background(), openai.ChatCompletionNewParams{
				Model: haiku, Messages: imageMessage(tt.url),
			})
			var apiErr *openai.Error
			if !errors.As(err, &apiErr) || apiErr.StatusCode != 400 || apiErr.Code != tt.wantCode ||
				apiErr.Param != "messages[0].content[1].image_url" || !strings.Contains(apiErr.Message, tt.wantMsg) {
				t.Fatalf("err = %v", err)
			}
			if strings.Contains(apiErr.Message, "127.0.0.1") && !strings.Contains(tt.url, "127.0.0.1") {
				t.Errorf("the message names a resolved address: %s", apiErr.Message)
			}
			if tt.gw == g && hits.Load() != before {
				t.Errorf("the guard let a request reach %s", tt.url)
			}
		})
	}
}
