package api

import (
	"crypto/sha256"
	"crypto/subtle"
	"errors"
	"fmt"
	"strings"

	"github.com/gin-gonic/gin"

	"github.com/tollgate-gw/tollgate"
)

// OriginHeader is the request header in which a front door (the CloudFront
// distribution of deploy/template.yaml) proves that a request came through
// it: CloudFront adds it to every request it sends to the origin, replacing
// any a viewer sent, so only requests that bypassed CloudFront lack it.
const OriginHeader = "X-Tollgate-Origin"

// MinOriginSecretLen is the shortest origin secret accepted: the template's
// secrets are 48 random letters and digits; a short one could be guessed.
const MinOriginSecretLen = 32

// ParseOriginSecrets reads the -origin-secret setting: empty for no check,
// one secret, or two separated by a comma while a rotation is under way
// (the front door's edges switch to the new value over minutes, and both
// must pass meanwhile). Errors describe the value's shape, never the value;
// the caller names the setting.
func ParseOriginSecrets(s string) ([]string, error) {
	if strings.TrimSpace(s) == "" {
		return nil, nil
	}
	parts := strings.Split(s, ",")
	if len(parts) > 2 {
		return nil, fmt.Errorf("%d comma-separated values, want one, or two during a rotation", len(parts))
	}
	secrets := make([]string, 0, len(parts))
	for i, p := range parts {
		p = strings.TrimSpace(p)
		if len(p) < MinOriginSecretLen {
			return nil, fmt.Errorf("value %d of %d has %d characters, want at least %d", i+1, len(parts), len(p), MinOriginSecretLen)
		}
		secrets = append(secrets, p)
	}
	if len(secrets) == 2 && secrets[0] == secrets[1] {
		return nil, errors.New("the two values are the same")
	}
	return secrets, nil
}

// requireOrigin refuses every request but the readiness route that does
// not carry one of secrets in OriginHeader, with a 403 origin_forbidden,
// before authentication, the budget or Bedrock see it: a request that
// bypasses the front door (and its WAF) costs one hash. The comparison
// takes the same time whichever secret matches, and however much of one a
// guess gets right: the values compared are SHA-256 digests, of one
// length, and every secret is compared. The header is removed once checked.
func requireOrigin(secrets []string) gin.HandlerFunc {
	want := make([][sha256.Size]byte, len(secrets))
	for i, s := range secrets {
		want[i] = sha256.Sum256([]byte(s))
	}
	return func(c *gin.Context) {
		if c.FullPath() == "/healthz" { // the Web Adapter's readiness probe comes from inside
			c.Next()
			return
		}
		got := c.Request.Header[OriginHeader]
		ok := 0
		if len(got) == 1 {
			h := sha256.Sum256([]byte(got[0]))
			for i := range want {
				ok |= subtle.ConstantTimeCompare(h[:], want[i][:])
			}
		}
		if ok != 1 {
			writeError(c, &tollgate.Error{Kind: tollgate.PermissionDenied, Code: "origin_forbidden",
				Message: "This gateway accepts requests only through its front door. Use the front door's URL (the stack's OpenAIBaseUrl output), not the function's own URL."})
			return
		}
		delete(c.Request.Header, OriginHeader)
		c.Next()
	}
}
