// Package openapitest checks response bodies, stream transcripts, model
// lists and error bodies against OpenAI's official OpenAPI specification, so
// that a test catches what a hand-written expectation misses (a stream
// choice without finish_reason, a created time in milliseconds, a message
// without refusal). It is test support: only _test.go files import it.
//
// The spec is testdata/openai/openai-openapi.yml, copied verbatim from
// github.com/openai/openai-openapi (see openai-openapi.SOURCE.txt beside
// it). It is found by walking up from the working directory (a package
// directory under go test) to the directory holding go.mod. It is read,
// converted and compiled once per process, on first use, which takes about
// 0.2 s; CreateChatCompletionResponse, CreateChatCompletionStreamResponse,
// CreateEmbeddingResponse, ListModelsResponse, Model and ErrorResponse are
// compiled then, any other one of components.schemas on its first [Check].
//
// # How the spec is read
//
// The spec says OpenAPI 3.1, whose schemas are JSON Schema 2020-12, and it is
// validated as such with github.com/santhosh-tekuri/jsonschema/v6. The YAML
// is converted node by node: mapping keys stay strings (an unquoted `200:`
// would otherwise become an int) and numbers stay exact (json.Number), as do
// the numbers of the bodies checked.
//
// The spec still carries some keywords of OpenAPI 3.0 and of JSON Schema
// 2019-09, which 2020-12 reads differently or not at all. Rather than loosen
// anything, the loader rewrites each to what its author meant, in
// components.schemas only and only at schema positions, and fails loudly on
// a form it does not know:
//
//   - `nullable: true` (OpenAPI 3.0) is ignored by 2020-12, which would reject
//     the `"finish_reason": null` and `"usage": null` that every stream
//     carries. Such a schema S becomes {anyOf: [{type: null}, S]}: null is
//     allowed, everything else is still checked against S (enums included).
//     `nullable: false` is dropped.
//   - `exclusiveMinimum: true` next to `minimum: x` (OpenAPI 3.0) becomes
//     `exclusiveMinimum: x`; likewise for the maximum.
//   - `$recursiveAnchor` / `$recursiveRef: "#"` (2019-09), used by the
//     self-nesting filter schemas, become a $ref to the component itself:
//     "#" in this document would otherwise be the whole spec.
//   - A name listed twice in `required` is listed once.
//
// Other keywords the library does not know are annotations and stay so, as
// OpenAPI 3.1 intends: `discriminator` is a hint, the oneOf/anyOf beside it
// still decides (exactly one branch must match); `x-` extensions,
// `example` and `deprecated` assert nothing.
//
// Formats are asserted (2020-12 makes them annotations unless asked), since
// they are part of the contract clients parse: the library's standard ones
// (date, uri, ...), plus the spec's own "unixtime", a whole number of seconds
// below 1e11 (so that milliseconds fail), and "int64". The spec's "double",
// "float" and "binary" say nothing JSON can check and are not asserted.
package openapitest
