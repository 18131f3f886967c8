package api

import (
	"github.com/gin-gonic/gin"

	"github.com/tollgate-gw/tollgate/internal/converse"
	"github.com/tollgate-gw/tollgate/internal/gate"
	"github.com/tollgate-gw/tollgate/internal/policy"
)

// prepareConverse takes a decoded chat request (chat's own, or the chat
// equivalent of a Responses request) through the steps every Converse front
// end shares, in the one order that keeps the guards, so that no guard can
// be added to one route only:
//
//  1. route the model (aliases, allow and deny lists);
//  2. build the Converse input with its image URLs pending, to measure it;
//  3. admit the call's worst case (at most 20 images, each at its token
//     bound; a place among the calls in flight; the reservation);
//  4. only then fetch the image URLs, and build the input again with their
//     bytes: a key with no budget makes the gateway fetch nothing;
//  5. lower the output cap to the one granted.
//
// bodyLen is the size of the body req was decoded from. rename names the
// request's own parameters in the errors of building and fetching (nil:
// chat's). The errors are ready to write.
func prepareConverse(c *gin.Context, d Deps, x *gate.Exchange, req *converse.ChatRequest, bodyLen int,
	rename func(error) error) (policy.Route, *converse.Input, error) {
	if rename == nil {
		rename = func(err error) error { return err }
	}
	ctx := c.Request.Context()
	route, err := x.Route(ctx, req.Model, req.Stream)
	if err != nil {
		return route, nil, err
	}
	opts := chatOptions(c, d, keyOf(c), route)
	pending := len(converse.ImageURLs(req)) > 0
	if pending && d.Images == nil {
		return route, nil, rename(fetchImages(ctx, nil, req)) // refuses image URLs, fetching nothing
	}
	opts.ImagesPending = pending
	in, err := converse.ToConverse(req, route.ModelID, opts)
	if err != nil {
		return route, nil, rename(err)
	}
	maxTokens, thinking := converse.OutputCap(req, route.ModelID)
	grant, err := x.Admit(ctx, converseDemand(converse.Measure(req, in, bodyLen), maxTokens, thinking))
	if err != nil {
		return route, nil, err
	}
	if pending {
		if err := fetchImages(ctx, d.Images, req); err != nil {
			return route, nil, rename(err)
		}
		opts.ImagesPending = false
		if in, err = converse.ToConverse(req, route.ModelID, opts); err != nil {
			return route, nil, rename(err)
		}
	}
	if grant.MaxOutput > 0 && grant.MaxOutput != maxTokens {
		converse.CapOutput(in, grant.MaxOutput, thinking)
	}
	return route, in, nil
}
