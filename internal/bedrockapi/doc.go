// Package bedrockapi is Bedrock's own runtime API as a client protocol: the
// AWS SDKs and Claude Code's Bedrock mode call Tollgate's /bedrock routes as
// they would call Bedrock. Request and response bodies pass through
// unchanged; this package reads what the gate needs of them and renders
// Bedrock's errors. It does no I/O and logs nothing.
//
// # Requests
//
// [ParseConverse] reads a Converse (or ConverseStream) body and
// [ParseInvoke] an InvokeModel body, per model family, for the gate's
// reservation: an upper bound of the input bytes, the texts for a precise
// count, images, binary documents, the framing, and the output cap and
// thinking budget as plain numbers. [Call.SetOutputCap] writes the cap the
// budget granted into the body (only when it differs from the one asked:
// the body is otherwise sent as it came), lowering a thinking budget that
// would no longer fit; [Call.SetGuardrail] puts a Converse call under the
// key's guardrail.
//
// # Errors
//
// [Status] is this protocol's one table from an error kind to the HTTP
// status and the x-amzn-ErrorType the SDKs raise as typed exceptions;
// [ErrorBody] renders Bedrock's body, {"message": ...}. Once a stream has
// started, an error is an exception event: [ExceptionFrame].
//
// # Streams
//
// Bedrock's streams are AWS event streams (application/vnd.amazon.eventstream):
// Tollgate relays Bedrock's frames as they came, reading each for the usage.
// [EventType] reads a frame's event type; [ExceptionFrame] builds the frame
// of an error of Tollgate's own (a stream Bedrock cut, say).
package bedrockapi
