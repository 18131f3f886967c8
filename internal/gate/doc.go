// Package gate owns the life of a model call, whatever protocol the client
// speaks: route → admit → call Bedrock → settle once → the metering event.
// It is the one money path; the client protocols (internal/api's OpenAI
// chat completions and embeddings, and whatever comes next) are front ends
// that decode a request, describe the call to the gate, and encode what the
// gate returns. gate imports no HTTP and no client protocol.
//
// One model request is one [Exchange], opened by [Gate.Open] with the
// authenticated caller and closed by [Exchange.Finish], which records the
// request's one metering event. In between, a front end calls, in order:
//
//  1. [Exchange.Route] with the requested model: the policy's aliases and
//     the key's allow and deny lists, and the catalog's base model of an
//     application inference profile. The front end builds the Bedrock input
//     for the route's model id.
//  2. [Exchange.Admit] with the call's [Demand]: the worst-case input
//     measure, and the output cap and thinking budget as plain numbers. The
//     budget guard reserves the worst case and may lower the output cap; the
//     [Grant] says the cap to send, decided here once.
//  3. One call: [Exchange.Converse], [Exchange.ConverseStream] (events go
//     to the front end's [Sink] as they come) or [Exchange.Invoke] (one or
//     more InvokeModel calls with raw bodies, each read for its usage by the
//     front end's parser). Each runs on a context of its own, bounded by the
//     upstream timeout, so a client that leaves does not cut a call Bedrock
//     bills anyway, and settles the reservation exactly once from Bedrock's
//     own usage: on success, on an error, on a cut stream, when the client
//     left. A model with fallbacks in the policy is tried once, and a call
//     it cannot answer before any output (throttled, not ready,
//     unavailable, timed out) moves to the next model of its chain the key
//     may use and the budget affords, its hold repriced (fallback.go).
//
// Errors are *tollgate.Error; each front end renders them in its own
// protocol's envelope. A new protocol is a new front end: neither this
// package, nor budget, nor metering changes.
package gate
