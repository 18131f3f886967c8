package proc

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"time"
)

// WaitHealthy polls GET base/healthz with client every 2 ms until it answers
// 200, for up to 15 s or until ctx is done.
func WaitHealthy(ctx context.Context, client *http.Client, base string) error {
	ctx, cancel := context.WithTimeout(ctx, 15*time.Second)
	defer cancel()
	for {
		req, _ := http.NewRequestWithContext(ctx, http.MethodGet, base+"/healthz", nil)
		resp, err := client.Do(req)
		if err == nil {
			_, _ = io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return nil
			}
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("%s/healthz never answered 200: %w", base, ctx.Err())
		case <-time.After(2 * time.Millisecond):
		}
	}
}
