package fetch

import (
	"testing"

	"github.com/google/go-cmp/cmp"
)

// Minimal headers of each format, enough for the magic numbers.
const (
	pngBytes  = "\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR"
	jpegBytes = "\xff\xd8\xff\xe0\x00\x10JFIF\x00"
	gif87     = "GIF87a\x01\x00\x01\x00"
	gif89     = "GIF89a\x01\x00\x01\x00"
	webpBytes = "RIFF\x24\x00\x00\x00WEBPVP8 "
)

func TestSniff(t *testing.T) {
	tests := []struct {
		name string
		data string
		want string
	}{
		{"png", pngBytes, "png"},
		{"jpeg", jpegBytes, "jpeg"},
		{"gif87a", gif87, "gif"},
		{"gif89a", gif89, "gif"},
		{"webp", webpBytes, "webp"},
		{"empty", "", ""},
		{"text", "hello, world\n", ""},
		{"html", "<!doctype html><img src=x>", ""},
		{"svg", `<svg xmlns="http://www.w3.org/2000/svg"/>`, ""},
		{"png truncated", "\x89PNG\r\n\x1a", ""},
		{"jpeg truncated", "\xff\xd8", ""},
		{"gif88a", "GIF88a", ""},
		{"riff not webp", "RIFF\x24\x00\x00\x00WAVEfmt ", ""},
		{"webp truncated", "RIFF\x24\x00\x00\x00WEB", ""},
		{"bmp", "BM\x36\x00\x00\x00", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if diff := cmp.Diff(tt.want, sniff([]byte(tt.data))); diff != "" {
				t.Errorf("sniff (-want +got):\n%s", diff)
			}
		})
	}
}
