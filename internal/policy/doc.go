// Package policy decides who may call the gateway and what they may use: which
// API key a secret is, which models the key may call (allowlist and denylist
// globs, aliases), what each model costs, and the monthly spend caps of the
// key, its team and the whole gateway.
//
// A Policy is loaded from every *.yaml and *.yml file of a directory, merged
// (see [Load] and [Parse]; docs/policy.md is the field reference). It is
// immutable once loaded: a reload builds a new Policy and swaps it in through
// a [Holder], so a request keeps the Policy it started with. [Watch] reloads
// a directory when it changes; the s3source subpackage polls an S3 prefix.
//
// Money is integer: caps and costs are micro-USD (int64), prices nano-USD per
// token, so that settling a request never accumulates rounding error.
//
// The package imports no HTTP, AWS or usage-store code: it decides, callers
// act.
package policy
