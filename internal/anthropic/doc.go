// Package anthropic translates Anthropic's Messages API (POST /v1/messages,
// as Claude Code and the Anthropic SDKs speak it) to Claude on Amazon
// Bedrock, which takes the same body on InvokeModel and
// InvokeModelWithResponseStream, and Bedrock's answers back.
//
// Translation is pure: the package does no I/O, holds no client and logs
// nothing. Errors are *tollgate.Error; [Status] is this protocol's one table
// from an error kind to an HTTP status and Anthropic error type, and
// [ErrorBody] renders Anthropic's envelope
// {"type":"error","error":{"type":...,"message":...}}.
//
// # Requests
//
// [ParseRequest] decodes and checks what the gateway must understand (model,
// max_tokens, messages and their content blocks, stream, system, thinking,
// tools), with messages that name the field as Anthropic's do
// ("messages.2.content.0.type: ..."); everything else passes through to
// Bedrock untouched, which validates it in turn. [Request.BedrockBody]
// builds the InvokeModel body: model and stream removed,
// anthropic_version "bedrock-2023-05-31", anthropic_beta from the
// anthropic-beta header kept to the flags Bedrock accepts ([BedrockBetas]),
// the members Bedrock refuses dropped ([DroppedFields]), and messages with
// role "system" (Claude Code sends one) moved, in order, to the end of
// system.
//
// Budgets: [Request.Input] bounds what the model reads from the body's size
// (every text, tool, system block, document and thinking block is in the
// body) less the base64 of its images, each counted as one image;
// [Request.Texts] lists the texts for a precise count near a cap;
// [Request.MaxTokens] is the output cap (thinking tokens count toward it)
// and [Request.SetMaxTokens] lowers it, with the thinking budget when it
// would no longer fit.
//
// # Answers
//
// A plain answer is Anthropic's message object already; [ParseUsage] reads
// its usage. A stream is Bedrock's chunk events, each holding one Anthropic
// event: [AppendFrame] turns each into the SSE frame Anthropic sends
// ("event: <type>" then "data: <json>"; Bedrock's
// amazon-bedrock-invocationMetrics is never passed on), and a [Meter] per
// request reads them for the usage (message_start for input and cache
// tokens, message_delta for output, the invocation metrics, which win) and
// says whether message_stop arrived: a stream without it failed, and ends
// with [ErrorEvent].
//
// # Models
//
// [BedrockModel] maps Anthropic's model names (claude-sonnet-4-5-20250929,
// claude-sonnet-4-5, claude-3-5-haiku-latest, ...) to Bedrock ids: the
// foundation id, or for the models Bedrock serves only through inference
// profiles the profile of the gateway's geography ([Geography]). Policy
// aliases come first; the table is the fallback.
package anthropic
