// Package converse translates OpenAI chat completion requests into Amazon
// Bedrock Converse requests, and Converse answers (whole or streamed) back
// into OpenAI responses and server-sent events.
//
// Translation is pure: the package does no I/O, holds no client and logs
// nothing. [ParseChatRequest] validates a request body, [ToConverse] builds the
// Bedrock input (for Converse and ConverseStream alike; [OutputCap] and
// [CapOutput] tell and set its output cap as plain numbers), [FromConverse] builds the
// chat.completion body and a [Stream] turns ConverseStream events into
// chat.completion.chunk events. Errors are *tollgate.Error: Kind Invalid
// (HTTP 400) with OpenAI's param and code for requests, Kind BadGateway for
// answers Bedrock got wrong.
//
// # Requests
//
// system and developer messages, wherever they appear, become Converse
// system blocks in order. The other messages become alternating user and
// assistant turns: consecutive messages of the same side are merged, tool
// messages are user turns (so parallel tool results, and a user message
// right after them, form one user turn), and blank text is dropped because
// Bedrock rejects it. A conversation that still does not start with a user
// turn is refused, naming the first message ("messages[i]: ..."); Tollgate
// never invents content. A blank tool result becomes the text "(empty)".
//
// Images must be base64 data: URLs (png, jpeg, gif, webp); image URLs are
// not fetched yet. File parts (file_data as a base64 data: URL, or bare
// base64 typed by the filename's extension) become document blocks: pdf,
// csv, doc, docx, xls, xlsx, html, txt or md; the name is the filename
// reduced to what Bedrock accepts and made unique in the request; at most 5
// documents of 4.5 MB each. file_id, audio parts, n > 1, logprobs and audio
// output are refused with a 400 naming the parameter. seed,
// frequency_penalty, presence_penalty, logit_bias, parallel_tool_calls,
// store, metadata, service_tier, a function's strict flag and unknown
// fields are accepted and ignored; user goes to requestMetadata with the
// key and request ids the gateway passes in [Options].
//
// reasoning_effort maps per model family (quirks.go): Claude's extended
// thinking (budget_tokens 1024 to 32768 by effort, max tokens raised above
// the budget, temperature and top_p made valid), outputConfig.effort, or
// the family's own field; other models ignore it. Thinking is left off when
// a tool is forced, or when the last assistant turn calls tools without the
// reasoning_details that came with it, so a client that drops them still
// gets an answer. response_format json_schema becomes
// outputConfig.textFormat where the model takes it; json_object, and
// json_schema elsewhere, become a forced tool whose input is the answer
// ([ChatRequest.JSONTool], [Meta.JSONTool]). Cache points follow the
// system prompt and end the last user turn when prompt caching is on (the
// request's prompt_cache, else [Options.PromptCache]) and the model takes
// them. A guardrail in [Options] becomes guardrailConfig.
//
// max_completion_tokens wins over max_tokens. Some models reject
// temperature and top_p together; for those (see quirks.go, the one table
// of per-model rules) top_p is dropped when both are set.
//
// # Tools
//
// Function tools become tool specifications; a missing parameters schema
// becomes {"type":"object","properties":{}}, a schema without a type gets
// "type":"object", and an empty description is left out, since Bedrock
// rejects one. tool_choice "auto", "required" and a named function map to
// Bedrock's auto, any and tool choices.
//
// Bedrock has no tool_choice "none", and it requires a toolConfig whenever
// the history holds tool calls or results. So with "none" Tollgate sends no
// toolConfig, and writes the history's tool calls and results as text the
// model can read: `[called tool get_weather with {"city":"Paris"}]` in the
// assistant turn and `[tool get_weather result: 18°C]` in the user turn.
// Without "none", a history that calls tools in a request that declares
// none gets tool specifications synthesized for the names it uses (no
// description, an empty object schema), so that Bedrock accepts it.
//
// Numbers inside tool arguments and schemas travel as smithy
// document.Number, so that Bedrock receives them digit for digit.
//
// # Responses
//
// The message content is the answer's text blocks concatenated with no
// separator (Bedrock splits text into blocks around tool calls and
// citations, not at paragraph boundaries), or null when the answer is only
// tool calls. Tool call ids are Bedrock's toolUseIds. Reasoning blocks
// become reasoning_content and reasoning_details (text and signature, to be
// echoed with the assistant message), or a <think> block opening the
// content with [Meta.ThinkTags]; reasoning_tokens is estimated from their
// text (bytes / 4), since Bedrock reports none.
//
// prompt_tokens counts all the input the user is billed for:
// inputTokens + cacheReadInputTokens + cacheWriteInputTokens;
// prompt_tokens_details.cached_tokens is cacheReadInputTokens. See
// [FinishReason] for stop reasons.
//
// Streams follow OpenAI's framing: a first chunk with the assistant role,
// content and tool call deltas (tool calls numbered from 0 in the order they
// start, whatever their content block index), a chunk with the
// finish_reason, with stream_options.include_usage a last chunk with empty
// choices and the usage, and "data: [DONE]". A stream that closes without
// both messageStop and metadata has failed: [Stream.End] says so.
//
// # The Responses API
//
// [ParseResponsesRequest] reads OpenAI's Responses API request (what Codex
// and the Agents SDK send) into the equivalent [ChatRequest], which the
// functions above then translate as they translate chat: input items
// become messages (an assistant's reasoning, text and calls one turn),
// namespace tools are flattened into Bedrock names through a table that
// splits them back, custom tools become functions of one string, and the
// reasoning items Tollgate returned carry Claude's signed thinking back in
// their encrypted_content. [FromConverseResponses] builds the response
// object and a [ResponsesStream] the Responses event stream.
package converse
