package api

import (
	"context"
	"errors"
	"sync"

	"github.com/aws/aws-sdk-go-v2/service/bedrockruntime/types"

	"github.com/tollgate-gw/tollgate"
	"github.com/tollgate-gw/tollgate/internal/converse"
	"github.com/tollgate-gw/tollgate/internal/fetch"
	"github.com/tollgate-gw/tollgate/internal/gate"
)

// maxImageFetches bounds the image URLs of one request fetched at once.
const maxImageFetches = 4

// fetchImages fetches the images req sends by URL, through the SSRF-guarded
// fetcher, and fills them in for translation; only once the request is
// admitted, so that a key with no budget left makes the gateway fetch
// nothing. Any failure is a 400 naming
// the message and part. With no fetcher, image URLs are refused.
func fetchImages(ctx context.Context, f *fetch.Fetcher, req *converse.ChatRequest) error {
	refs := converse.ImageURLs(req)
	if len(refs) == 0 {
		return nil
	}
	if f == nil {
		return tollgate.Errorf(tollgate.Invalid, "unsupported_value", refs[0].Param,
			"Invalid '%s': this gateway does not fetch image URLs; send the image as a data: URL (data:image/png;base64,...).", refs[0].Param)
	}
	if len(refs) > gate.MaxImages { // Admit refuses such requests first
		return gate.TooManyImages(len(refs))
	}
	errs := make([]error, len(refs))
	sem := make(chan struct{}, maxImageFetches)
	var wg sync.WaitGroup
	for i, ref := range refs {
		wg.Add(1)
		sem <- struct{}{}
		go func() {
			defer func() { <-sem; wg.Done() }()
			data, format, err := f.Image(ctx, ref.Image.URL)
			if err != nil {
				errs[i] = imageError(ref.Param, err)
				return
			}
			ref.Image.Data, ref.Image.Format = data, types.ImageFormat(format)
		}()
	}
	wg.Wait()
	return firstError(errs)
}

func firstError(errs []error) error {
	for _, err := range errs {
		if err != nil {
			return err
		}
	}
	return nil
}

// imageError explains why an image URL could not be used. The fetcher's
// message is safe to show: it never names an address the gateway resolved.
func imageError(param string, err error) error {
	var fe *fetch.Error
	if !errors.As(err, &fe) {
		return &tollgate.Error{Kind: tollgate.Internal, Message: "The gateway could not fetch an image.", Cause: err}
	}
	return &tollgate.Error{Kind: tollgate.Invalid, Code: "invalid_image_url", Param: param, Cause: err,
		Message: "Invalid '" + param + "': " + fe.Message}
}
