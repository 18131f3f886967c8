// Package bedrocksim simulates Amazon Bedrock for Tollgate: newcomers try the
// gateway against it (tollgate serve -sim), and the tests and benchmarks run on
// it. It speaks Bedrock's wire protocols faithfully enough that the real
// aws-sdk-go-v2 clients (service/bedrockruntime and service/bedrock) talk to it
// unchanged:
//
//	cfg, _ := config.LoadDefaultConfig(ctx, config.WithRegion("us-east-1"),
//		config.WithCredentialsProvider(credentials.NewStaticCredentialsProvider("AKID", "SECRET", "")))
//	rt := bedrockruntime.NewFromConfig(cfg, func(o *bedrockruntime.Options) { o.BaseEndpoint = aws.String(baseURL) })
//
// or set AWS_ENDPOINT_URL_BEDROCK_RUNTIME and AWS_ENDPOINT_URL_BEDROCK to the
// base URL that [Server.Start] returns.
//
// # Operations
//
// One host serves both services:
//
//   - bedrock-runtime: POST /model/{modelId}/converse and
//     /model/{modelId}/converse-stream (REST-JSON; the stream is
//     application/vnd.amazon.eventstream, framed with the SDK's own encoder).
//   - bedrock-runtime: POST /model/{modelId}/invoke (InvokeModel) for the
//     embedding models (Titan Text Embeddings v1 and v2, Cohere Embed v3);
//     see invoke.go for their bodies, limits and answers.
//   - bedrock-runtime: POST /model/{modelId}/invoke and
//     /invoke-with-response-stream for the Claude models, with Anthropic's
//     Messages body (anthropic_version "bedrock-2023-05-31", anthropic_beta
//     checked against [ClaudeBetas]); the answer is Anthropic's message
//     object, or "chunk" events whose bytes are Anthropic's stream events,
//     the last with amazon-bedrock-invocationMetrics. See claude.go.
//   - bedrock-runtime: POST /model/{modelId}/count-tokens (CountTokens) for
//     an InvokeModel body or a Converse request, on the bare foundation id
//     of the Claude models that count; see counttokens.go.
//   - bedrock: GET /foundation-models (filters byProvider, byOutputModality,
//     byInferenceType, byCustomizationType), GET /foundation-models/{id},
//     GET /inference-profiles (query type=SYSTEM_DEFINED|APPLICATION,
//     maxResults, nextToken; 50 per page by default) and
//     GET /inference-profiles/{id or ARN}.
//
// Every request needs an Authorization header; the signature is not checked.
// Without one the answer is what Bedrock sends: 403,
// x-amzn-ErrorType AccessDeniedException (front-door namespace), body
// {"Message":"Authorization header is missing"} (capital M, as observed). The
// region in a SigV4 credential scope is the region the simulator answers as
// (ARNs, which cross-region profiles are usable); without one it is us-east-1.
// Every response carries a random x-amzn-RequestId.
//
// Runtime answers, errors included, take at least 10ms plus Options.Latency.
// The floor works around a race in aws-sdk-go-v2 (smithy-go v1.28): the SDK
// closes the request body as soon as response headers arrive, the closed
// body's WriteTo returns io.EOF, and if net/http's writer had not finished
// with the body it fails and closes the connection under the response, so a
// stream ends early with Err() "use of closed network connection". Against a
// loopback server answering in microseconds that hits about one request in
// five; with the floor it is rare but still possible on a starved CPU. A
// client is immune when its HTTPClient hides the body's WriterTo:
//
//	type bodyNoWriterTo struct{ *http.Client }
//
//	func (c bodyNoWriterTo) Do(r *http.Request) (*http.Response, error) {
//		if r.Body != nil {
//			r.Body = struct{ io.ReadCloser }{r.Body}
//		}
//		return c.Client.Do(r)
//	}
//
// # Models
//
// [Server.Models] and [Server.InferenceProfiles] return the catalog. A modelId
// may be a foundation model id, a foundation-model ARN, a system-defined
// inference profile id ("us.", "eu.", "apac.", "global." prefix; usable only
// from a region of its geography, global from anywhere) or ARN, or the
// application inference profile ARN [AppProfileARN] (Claude 3 Haiku). Models
// whose inferenceTypesSupported is INFERENCE_PROFILE (Claude 3.5 Haiku, 3.5
// Sonnet v2, 3.7 Sonnet and the Claude 4 family) refuse their bare id as
// Bedrock does. Embedding and image models exist in the listings but refuse
// Converse; the embedding models answer InvokeModel, which every other model
// refuses.
//
// # Replies
//
// Replies are deterministic functions of the model and the conversation:
//
//   - Plain: "This is a simulated reply from <model name> to: <first 60
//     characters of the last user text>."
//   - When the last user message carries toolResult blocks: "The tool
//     returned: <results>.", stop reason end_turn.
//   - Tool use, when toolConfig is present, the last message is the user's
//     without toolResult, and toolChoice is any or tool, or the user text
//     carries [sim:tool], or (toolChoice auto or absent, as a model decides)
//     the user text names a tool or shares words with a tool's name or
//     description ("What's the weather in Paris?" and get_weather): the text
//     "I'll call <name>." then a toolUse block for the tool toolChoice names,
//     else the one the text names, else the one sharing the most words
//     (the first of those tied), else the first; its id is "tooluse_" and 22 characters derived
//     from the conversation, its input built from the tool's JSON schema (every
//     required property, or all when none is required: the first enum value,
//     "example", 1, true, [], objects recursively). Stop reason tool_use.
//   - Claude models with extended thinking enabled
//     (additionalModelRequestFields.thinking) first answer a reasoningContent
//     block with a text and a signature (streamed as reasoningContent text
//     deltas, then a signature delta).
//   - With outputConfig.textFormat (Claude Sonnet 4.5 and Haiku 4.5), the
//     text is JSON built from the schema as tool inputs are.
//   - With a guardrailConfig and [sim:guardrail] in the last user message:
//     "Sorry, the model cannot answer this question.", stop reason
//     guardrail_intervened.
//
// inferenceConfig.maxTokens cuts the reply (stop reason max_tokens, tool calls
// dropped); stopSequences cut it before the first occurrence (stop reason
// stop_sequence). ConverseStream sends messageStart, then per block an
// optional contentBlockStart (tool use only, as Bedrock), deltas of three
// words of text or a third of the tool input JSON, contentBlockStop, then
// messageStop and metadata with the same usage as Converse would report.
// Event payloads carry Bedrock's "p" padding member.
//
// # Token rule
//
// Text costs ceil(UTF-8 bytes / 4) tokens and an image 1600 tokens. Input
// tokens count the tool specs (name, description, compact JSON schema), the
// structured-output format (outputConfig.textFormat's name, description and
// schema), the system blocks, and every message block (text, tool use name
// and compact input JSON, tool result text or compact JSON, document bytes,
// reasoning text and redacted reasoning bytes), at least 1. Output tokens count the generated reasoning text, text
// and tool names and input JSON, at least 1. totalTokens is the sum of input,
// output, cache read and cache write tokens.
//
// Prompt caching: for models that support it, a cachePoint marks the prefix
// before it (tools, then system, then messages). A prefix at least as long as
// the model's minimum (Model.CacheMinTokens) is written to the cache the first
// time (cacheWriteInputTokens) and read from it (cacheReadInputTokens) when
// seen again within five minutes of its last use (by the Options.Now clock).
// Those tokens are not part of inputTokens.
//
// # Validation
//
// Requests are checked as Bedrock checks them, with Bedrock's messages:
// unknown model id, on-demand use of a profile-only model, non-chat model,
// ConverseStream on a model without streaming, maxTokens out of range,
// temperature and topP together on Claude Sonnet 4.5, Haiku 4.5 and Opus
// 4.1, extended-thinking budget and sampling rules, tool use on models
// without it (or without it in streaming mode, Llama and Mistral), system
// prompts and images on models without them, an empty conversation or one
// that starts with the assistant or does not alternate, empty content, blank
// text, toolUse or toolResult without toolConfig, toolResult blocks that do
// not answer the previous turn's toolUse blocks. With extended thinking: a
// forced toolChoice, a reasoning text without signature, or a final
// assistant message that calls tools without starting with its reasoning
// block (Claude's "Expected `thinking` or `redacted_thinking`, but found
// `tool_use`"). Documents: models without tool use refuse them; format in
// Bedrock's list, names of alphanumerics, hyphens, parentheses, square
// brackets and single spaces, unique; at most 5 of 4.5 MB. guardrailConfig
// identifier and version patterns, trace values; requestMetadata keys and
// values (256 characters of [a-zA-Z0-9\s:_@$#=/+,-.], 16 entries);
// outputConfig.effort (only the 4.6 models and newer take it) and textFormat (valid
// JSON schema, supported model).
//
// # Markers
//
// Text in the last user message can steer the simulator with markers, which
// never appear in replies. An unknown or malformed marker is a
// ValidationException naming it.
//
//   - [sim:error=Name]: answer with that exception as an HTTP error; Name is
//     one of [ErrorNames] (ThrottlingException 429, ModelNotReadyException
//     429, AccessDeniedException 403, ResourceNotFoundException 404,
//     ModelTimeoutException 408, ModelErrorException 424,
//     ServiceQuotaExceededException 400, ValidationException 400,
//     ConflictException 400, InternalServerException 500,
//     ServiceUnavailableException 503).
//   - [sim:exception=name]: on ConverseStream, after two deltas, send an
//     exception event (name is one of [StreamExceptionNames]:
//     internalServerException, modelStreamErrorException,
//     serviceUnavailableException, throttlingException, validationException)
//     and end the stream; no messageStop, no metadata.
//   - [sim:latency=250ms]: wait that long (at most 5m) before answering, on top
//     of Options.Latency.
//   - [sim:cut]: on ConverseStream, drop the connection after two deltas; on
//     Converse, drop it without an answer. The SDK (v1.63) reports a stream
//     cut this way as a clean end: its event channel closes and Err() is nil.
//   - [sim:stall]: on ConverseStream, send nothing after the first delta until
//     the client goes away or Options.StallTimeout passes (then drop the
//     connection).
//   - [sim:tokens=N]: make a plain text reply exactly N tokens long with
//     filler words (maxTokens still applies).
//   - [sim:stop=reason]: report that stop reason (e.g. content_filtered,
//     guardrail_intervened, max_tokens).
//   - [sim:tool]: call a tool; [sim:parallel]: call two (the chosen one and
//     the next, or the same one twice).
//   - [sim:guardrail]: the request's guardrail, if it has one, intervenes.
//
// # Stats
//
// [Server.Stats] counts requests per operation, errors per exception name, and
// the invocations Bedrock would bill with their tokens: every request that
// passed validation, including those whose connection was then cut, stalled
// or failed with an exception event, with the usage of the full reply.
package bedrocksim
