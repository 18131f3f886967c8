// Self-test of openapi.mjs: known-good bodies pass, known-bad ones fail with
// a message that names the pointer and the spec keyword.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import path from 'node:path';

import { SPEC_PATH, assertValid, check, parseSSE, spec } from './openapi.mjs';

const chunkBase = { id: 'chatcmpl-tg-1', object: 'chat.completion.chunk', created: 1767225600, model: 'm' };
const good = {
  CreateChatCompletionResponse: {
    id: 'chatcmpl-tg-6f1c2a9e4b7d',
    object: 'chat.completion',
    created: 1767225600,
    model: 'anthropic.claude-3-haiku-20240307-v1:0',
    choices: [{
      index: 0,
      message: { role: 'assistant', content: 'Hello! How can I help?', refusal: null },
      logprobs: null,
      finish_reason: 'stop',
    }],
    usage: {
      prompt_tokens: 12, completion_tokens: 8, total_tokens: 20,
      prompt_tokens_details: { cached_tokens: 0 }, completion_tokens_details: { reasoning_tokens: 0 },
    },
    service_tier: 'default',
  },
  toolCall: {
    id: 'chatcmpl-tg-1', object: 'chat.completion', created: 1767225600, model: 'm',
    choices: [{
      index: 0,
      message: {
        role: 'assistant', content: null, refusal: null,
        tool_calls: [{ id: 'tooluse_abc', type: 'function', function: { name: 'get_weather', arguments: '{"city":"example"}' } }],
      },
      logprobs: null,
      finish_reason: 'tool_calls',
    }],
    usage: { prompt_tokens: 50, completion_tokens: 20, total_tokens: 70 },
  },
  roleChunk: { ...chunkBase, choices: [{ index: 0, delta: { role: 'assistant', content: '' }, logprobs: null, finish_reason: null }], usage: null },
  textChunk: { ...chunkBase, choices: [{ index: 0, delta: { content: 'Hel' }, finish_reason: null }], usage: null },
  stopChunk: { ...chunkBase, choices: [{ index: 0, delta: {}, finish_reason: 'stop' }], usage: null },
  usageChunk: { ...chunkBase, choices: [], usage: { prompt_tokens: 12, completion_tokens: 8, total_tokens: 20 } },
  toolChunk: {
    ...chunkBase,
    choices: [{ index: 0, delta: { tool_calls: [{ index: 0, id: 'tooluse_abc', type: 'function', function: { name: 'get_weather', arguments: '' } }] }, finish_reason: null }],
  },
  error: { error: { message: 'Rate limit reached; retry after 1s.', type: 'requests', param: null, code: 'rate_limit_exceeded' } },
  model: { id: 'anthropic.claude-3-haiku-20240307-v1:0', object: 'model', created: 1709769600, owned_by: 'anthropic' },
  embeddings: {
    object: 'list', model: 'amazon.titan-embed-text-v2:0',
    data: [{ object: 'embedding', index: 0, embedding: [0.0023064255, -0.009327292, 1e-7] }],
    usage: { prompt_tokens: 8, total_tokens: 8 },
  },
};
good.modelList = { object: 'list', data: [good.model, { ...good.model, id: 'us.anthropic.claude-3-haiku-20240307-v1:0', shutdown_date: null }] };

const clone = (v) => structuredClone(v);
const chunkSchema = '#/components/schemas/CreateChatCompletionStreamResponse';

test('known-good bodies are valid', () => {
  const cases = [
    ['CreateChatCompletionResponse', good.CreateChatCompletionResponse],
    ['CreateChatCompletionResponse', good.toolCall],
    ['CreateChatCompletionStreamResponse', good.roleChunk],
    ['CreateChatCompletionStreamResponse', good.textChunk],
    ['CreateChatCompletionStreamResponse', good.stopChunk],
    ['CreateChatCompletionStreamResponse', good.usageChunk],
    ['CreateChatCompletionStreamResponse', good.toolChunk],
    ['ErrorResponse', good.error],
    ['Model', good.model],
    ['ListModelsResponse', good.modelList],
    ['CreateEmbeddingResponse', good.embeddings],
  ];
  for (const [schema, body] of cases) {
    assert.deepEqual(check(schema, body), [], `${schema}: ${JSON.stringify(body)}`);
    assertValid(schema, body);
  }
});

test('known-bad bodies fail, naming pointer and keyword', () => {
  const noFinish = clone(good.textChunk);
  delete noFinish.choices[0].finish_reason;
  const wrongObject = { ...clone(good.textChunk), object: 'chat.completion' };
  const badFinish = clone(good.stopChunk);
  badFinish.choices[0].finish_reason = 'end_turn';
  const millis = { ...clone(good.CreateChatCompletionResponse), created: 1767225600000 };
  const noRefusal = clone(good.CreateChatCompletionResponse);
  delete noRefusal.choices[0].message.refusal;
  noRefusal.usage.prompt_tokens = '12';
  const noMessage = { error: { type: 'server_error', param: null, code: null } };
  const noOwner = { object: 'list', data: [{ id: 'm', object: 'model', created: 1709769600 }] };

  const cases = [
    ['CreateChatCompletionStreamResponse', noFinish, [
      `/choices/0: must have required property 'finish_reason' [${chunkSchema}/properties/choices/items/required]`,
    ]],
    ['CreateChatCompletionStreamResponse', wrongObject, [
      `/object: must be equal to one of the allowed values ["chat.completion.chunk"] [${chunkSchema}/properties/object/enum]`,
    ]],
    ['CreateChatCompletionStreamResponse', badFinish, [
      `/choices/0/finish_reason: must be null [${chunkSchema}/properties/choices/items/properties/finish_reason/anyOf/0/type]`,
      `/choices/0/finish_reason: must be equal to one of the allowed values ["stop","length","tool_calls","content_filter","function_call"] [${chunkSchema}/properties/choices/items/properties/finish_reason/anyOf/1/enum]`,
      `/choices/0/finish_reason: must match a schema in anyOf [${chunkSchema}/properties/choices/items/properties/finish_reason/anyOf]`,
    ]],
    ['CreateChatCompletionResponse', millis, [
      '/created: must match format "unixtime" [#/components/schemas/CreateChatCompletionResponse/properties/created/format]',
    ]],
    ['CreateChatCompletionResponse', noRefusal, [
      "/choices/0/message: must have required property 'refusal' [#/components/schemas/ChatCompletionResponseMessage/required]",
      '/usage/prompt_tokens: must be integer [#/components/schemas/CompletionUsage/properties/prompt_tokens/type]',
    ]],
    ['ErrorResponse', noMessage, [
      "/error: must have required property 'message' [#/components/schemas/Error/required]",
    ]],
    ['ErrorResponse', { message: 'boom', type: 'server_error' }, [
      "(root): must have required property 'error' [#/components/schemas/ErrorResponse/required]",
    ]],
    ['ListModelsResponse', noOwner, [
      "/data/0: must have required property 'owned_by' [#/components/schemas/Model/required]",
    ]],
  ];
  for (const [schema, body, want] of cases) {
    assert.deepEqual(check(schema, body).sort(), [...want].sort(), `${schema}: ${JSON.stringify(body)}`);
    assert.throws(() => assertValid(schema, body), (err) => {
      assert.equal(err.name, 'AssertionError');
      assert.match(err.message, new RegExp(`violation\\(s\\) of OpenAI's ${schema}:`));
      return true;
    });
  }
});

test('unknown schema names are refused', () => {
  assert.throws(() => check('NoSuchSchema', {}), /the spec has no components\.schemas\.NoSuchSchema/);
  assert.throws(() => check('Model/properties', {}), /bad schema name/);
});

test('the spec matches its provenance note and the rewrites are the known ones', () => {
  const { sha256, size, stats } = spec();
  const note = readFileSync(path.join(path.dirname(SPEC_PATH), 'openai-openapi.SOURCE.txt'), 'utf8');
  assert.ok(note.includes(`${size} bytes / ${sha256}`), `the note does not record ${size} bytes / ${sha256}`);
  // A change here means the spec starts or stops using an OpenAPI 3.0 or
  // 2019-09 construct: look at normalize() again (and internal/openapitest).
  assert.deepEqual(stats, {
    nullable: 109, notNullable: 1, exclusiveBoolean: 7, recursiveRef: 2, recursiveAnchor: 2, duplicateRequired: 4,
  });
});

const sse = (...events) => events.map((e) => `data: ${typeof e === 'string' ? e : JSON.stringify(e)}\n\n`).join('');

test('parseSSE accepts OpenAI-shaped streams', () => {
  assert.equal(parseSSE(sse(good.roleChunk, good.textChunk, good.stopChunk, good.usageChunk, '[DONE]')).length, 4);
  assert.deepEqual(parseSSE(sse(good.roleChunk, good.error)), [good.roleChunk, good.error]);
});

test('parseSSE rejects malformed streams', () => {
  const otherID = { ...good.stopChunk, id: 'chatcmpl-tg-2' };
  const noFinish = clone(good.textChunk);
  delete noFinish.choices[0].finish_reason;
  const cases = [
    [sse(good.roleChunk, good.stopChunk), /ends without data: \[DONE\]/],
    [sse(good.roleChunk, good.error, '[DONE]'), /event 3: follows an error event: \[DONE\]/],
    [sse(good.roleChunk, '[DONE]', good.stopChunk), /event 3: follows \[DONE\]/],
    [sse(good.textChunk, otherID, '[DONE]'), /event 2: id is chatcmpl-tg-2, the first chunk's is chatcmpl-tg-1/],
    [sse(noFinish, '[DONE]'), /event 1 \(CreateChatCompletionStreamResponse\): \/choices\/0: must have required property 'finish_reason'/],
    [`event: message\n${sse(good.textChunk, '[DONE]')}`, /event 1: more than one line/],
    [`data:${JSON.stringify(good.textChunk)}\n\ndata: [DONE]\n\n`, /event 1: not a data: line/],
    [sse(good.textChunk, '[DONE]').replaceAll('\n', '\r\n'), /contains "\\r"/],
    [sse(good.textChunk, '[DONE]').slice(0, -1), /does not end with a blank line/],
  ];
  for (const [text, want] of cases) {
    assert.throws(() => parseSSE(text), want, JSON.stringify(text));
  }
});
