// Package upstream is Tollgate's thin layer over the AWS SDK's Bedrock
// clients: it makes the calls, configures retries once, maps Bedrock's errors
// to [tollgate.Error] kinds, and keeps the cached model catalog. It holds no
// translation logic (that is package converse) and no policy.
package upstream
