// Drives the gateway with the official OpenAI JavaScript SDK, unmodified, the
// way a user's application would, and checks every body it sees against
// OpenAI's OpenAPI specification. One gateway (with its Bedrock simulator)
// serves the whole file.

import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';

import OpenAI from 'openai';

import { DEMO_KEY, startGateway } from './gateway.mjs';
import { assertValid, parseSSE } from './openapi.mjs';

const HAIKU = 'anthropic.claude-3-haiku-20240307-v1:0';

const WEATHER_TOOL = {
  type: 'function',
  function: {
    name: 'get_weather',
    description: 'Get the current weather for a city.',
    parameters: {
      type: 'object',
      properties: {
        city: { type: 'string', description: 'City name' },
        days: { type: 'integer', description: 'Forecast length' },
      },
      required: ['city'],
    },
  },
};
const WEATHER_RESULT = JSON.stringify({ temperature_c: 21, conditions: 'sunny' });

let gw;
let client;

before(async () => {
  gw = await startGateway();
  client = new OpenAI({ baseURL: gw.baseURL, apiKey: DEMO_KEY, maxRetries: 0, timeout: 10_000 });
});

after(async () => {
  if (!gw) return; // before() failed and said why
  const { code, signal } = await gw.stop();
  assert.equal(code, 0, `gateway exit: code ${code}, signal ${signal}\n${gw.logs()}`);
});

/** post sends a raw request, bypassing the SDK, to see the exact bytes. */
async function post(urlPath, body, { apiKey = DEMO_KEY } = {}) {
  return fetch(`${gw.baseURL}${urlPath}`, {
    method: 'POST',
    headers: { authorization: `Bearer ${apiKey}`, 'content-type': 'application/json' },
    body: JSON.stringify(body),
  });
}

async function get(urlPath, { base = gw.baseURL } = {}) {
  return fetch(`${base}${urlPath}`, { headers: { authorization: `Bearer ${DEMO_KEY}` } });
}

/** jsonBody checks the content type and returns the parsed body. */
async function jsonBody(res) {
  const text = await res.text();
  assert.match(res.headers.get('content-type') ?? '', /^application\/json\b/, `content-type of ${res.url}: ${text}`);
  return JSON.parse(text);
}

function assertUsage(usage) {
  assert.ok(usage, 'usage present');
  const { prompt_tokens: p, completion_tokens: c, total_tokens: t } = usage;
  assert.ok(Number.isInteger(p) && p > 0, `prompt_tokens ${p}`);
  assert.ok(Number.isInteger(c) && c > 0, `completion_tokens ${c}`);
  assert.equal(t, p + c, 'total_tokens = prompt_tokens + completion_tokens');
}

/**
 * collect iterates an SDK stream, validating each chunk against the spec,
 * and returns the chunks plus the text and tool calls they add up to. If
 * iteration throws, the error is returned with what came before it.
 */
async function collect(stream) {
  const chunks = [];
  let text = '';
  const calls = [];
  let error;
  try {
    for await (const chunk of stream) {
      assertValid('CreateChatCompletionStreamResponse', chunk);
      chunks.push(chunk);
      for (const choice of chunk.choices) {
        text += choice.delta.content ?? '';
        for (const d of choice.delta.tool_calls ?? []) {
          calls[d.index] ??= { index: d.index, id: undefined, name: undefined, arguments: '', deltas: 0 };
          const call = calls[d.index];
          call.deltas++;
          if (d.id) call.id = d.id;
          if (d.function?.name) call.name = d.function.name;
          call.arguments += d.function?.arguments ?? '';
        }
      }
    }
  } catch (err) {
    error = err;
  }
  const finish = chunks.flatMap((c) => c.choices).map((c) => c.finish_reason).filter((r) => r !== null);
  return { chunks, text, calls, finish, error };
}

describe('chat completions', () => {
  const params = { model: HAIKU, messages: [{ role: 'user', content: 'Say hello in five words.' }] };

  test('plain chat: SDK result and raw body', async () => {
    const { data, response } = await client.chat.completions.create(params).withResponse();
    assert.equal(response.status, 200);
    assert.equal(data.object, 'chat.completion');
    assert.equal(data.choices.length, 1);
    const [choice] = data.choices;
    assert.equal(choice.message.role, 'assistant');
    assert.equal(typeof choice.message.content, 'string');
    assert.ok(choice.message.content.length > 0, 'content non-empty');
    assert.equal(choice.finish_reason, 'stop');
    assertUsage(data.usage);

    // The exact bytes, unparsed by the SDK.
    const raw = await client.chat.completions.create(params).asResponse();
    const body = await jsonBody(raw);
    assertValid('CreateChatCompletionResponse', body);
    assert.match(body.id, /^chatcmpl-/);
    assert.equal(body.choices[0].message.content, choice.message.content, 'the simulator is deterministic');
    assert.deepEqual(body.usage, data.usage);
  });

  test('a cross-region inference profile id works too', async () => {
    const { data } = await client.chat.completions.create({ ...params, model: `us.${HAIKU}` }).withResponse();
    assertValid('CreateChatCompletionResponse', data);
    assert.equal(data.choices[0].finish_reason, 'stop');
    assertUsage(data.usage);
  });

  test('stream with include_usage', async () => {
    const stream = await client.chat.completions.create({ ...params, stream: true, stream_options: { include_usage: true } });
    const { chunks, text, finish, error } = await collect(stream);
    assert.ifError(error);
    assert.ok(text.length > 0, 'concatenated deltas non-empty');
    assert.equal(chunks[0].choices[0].delta.role, 'assistant', 'first delta carries the role');
    assert.deepEqual(finish, ['stop']);
    const usageChunks = chunks.filter((c) => c.usage != null);
    assert.equal(usageChunks.length, 1, 'exactly one chunk with usage');
    assert.equal(usageChunks[0], chunks.at(-1), 'the usage chunk is the last');
    assert.deepEqual(usageChunks[0].choices, []);
    assertUsage(usageChunks[0].usage);
    for (const c of chunks.slice(0, -1)) assert.equal(c.usage, null, 'content chunks carry "usage": null');
    for (const c of chunks) {
      assert.equal(c.id, chunks[0].id);
      assert.equal(c.created, chunks[0].created);
      assert.equal(c.model, chunks[0].model);
    }
  });

  test('stream as raw SSE', async () => {
    const res = await post('/chat/completions', { ...params, stream: true, stream_options: { include_usage: true } });
    assert.equal(res.status, 200);
    assert.match(res.headers.get('content-type') ?? '', /^text\/event-stream\b/);
    const events = parseSSE(await res.text()); // framing, schemas, [DONE]
    assert.ok(events.length >= 3, `${events.length} events`);
    assert.ok(events.every((e) => !('error' in e)), 'no error event');
  });

  test('tool call round trip', async () => {
    const messages = [{ role: 'user', content: 'What is the weather in Paris? Use get_weather.' }];
    const { data: first } = await client.chat.completions.create({ model: HAIKU, messages, tools: [WEATHER_TOOL] }).withResponse();
    assertValid('CreateChatCompletionResponse', first);
    const [choice] = first.choices;
    assert.equal(choice.finish_reason, 'tool_calls');
    assert.ok(choice.message.tool_calls?.length >= 1, 'tool_calls present');
    const [call] = choice.message.tool_calls;
    assert.equal(call.type, 'function');
    assert.ok(call.id, 'tool call id');
    assert.equal(call.function.name, 'get_weather');
    // The simulator fills required properties from the schema: strings with "example".
    assert.deepEqual(JSON.parse(call.function.arguments), { city: 'example' });

    const { data: second } = await client.chat.completions.create({
      model: HAIKU,
      tools: [WEATHER_TOOL],
      messages: [...messages, choice.message, { role: 'tool', tool_call_id: call.id, content: WEATHER_RESULT }],
    }).withResponse();
    assertValid('CreateChatCompletionResponse', second);
    assert.equal(second.choices[0].finish_reason, 'stop');
    const answer = second.choices[0].message.content;
    assert.equal(typeof answer, 'string');
    assert.match(answer, /sunny/, 'the answer quotes the tool result');
    assertUsage(second.usage);
  });

  test('tool call round trip, streamed', async () => {
    const messages = [{ role: 'user', content: 'What is the weather in Paris? Use get_weather.' }];
    const first = await collect(await client.chat.completions.create({
      model: HAIKU, messages, tools: [WEATHER_TOOL], stream: true, stream_options: { include_usage: true },
    }));
    assert.ifError(first.error);
    assert.deepEqual(first.finish, ['tool_calls']);
    assert.equal(first.calls.length, 1, `tool calls: ${JSON.stringify(first.calls)}`);
    const [call] = first.calls;
    assert.equal(call.index, 0, 'tool_calls[0].index is 0');
    assert.ok(call.id, 'the first delta of the call has an id');
    assert.equal(call.name, 'get_weather');
    assert.deepEqual(JSON.parse(call.arguments), { city: 'example' });
    const firstDelta = first.chunks.flatMap((c) => c.choices).flatMap((c) => c.delta.tool_calls ?? [])[0];
    assert.equal(firstDelta.type, 'function');
    assert.ok(firstDelta.id && firstDelta.function?.name, 'id and name come in the first delta of the call');

    const assistant = {
      role: 'assistant',
      content: first.text || null,
      tool_calls: [{ id: call.id, type: 'function', function: { name: call.name, arguments: call.arguments } }],
    };
    const second = await collect(await client.chat.completions.create({
      model: HAIKU,
      tools: [WEATHER_TOOL],
      messages: [...messages, assistant, { role: 'tool', tool_call_id: call.id, content: WEATHER_RESULT }],
      stream: true,
    }));
    assert.ifError(second.error);
    assert.deepEqual(second.finish, ['stop']);
    assert.match(second.text, /sunny/, 'the answer quotes the tool result');
    assert.equal(second.calls.length, 0);
  });

  test('a mid-stream exception is thrown while iterating', async () => {
    const body = { model: HAIKU, messages: [{ role: 'user', content: 'Tell me a story. [sim:exception=modelStreamErrorException]' }], stream: true };
    const { chunks, text, error } = await collect(await client.chat.completions.create(body));
    assert.ok(error, `iteration ended without an error after ${chunks.length} chunks`);
    assert.ok(error instanceof OpenAI.APIError, `${error?.constructor?.name}: ${error}`);
    assert.ok(text.length > 0, 'at least one content chunk came first');
    assert.ok(error.message && !/undefined|\(no status code or body\)/.test(error.message), `message: ${error.message}`);
    assert.equal(typeof error.error?.type, 'string', 'the error event has a type');

    // The bytes: an error event valid against ErrorResponse ends the stream, no [DONE].
    const events = parseSSE(await (await post('/chat/completions', body)).text());
    assert.ok('error' in events.at(-1), 'the last event is an error event');
  });

  test('a dropped upstream stream ends with an error event, not [DONE]', async () => {
    const body = { model: HAIKU, messages: [{ role: 'user', content: 'Tell me a story. [sim:cut]' }], stream: true };
    const events = parseSSE(await (await post('/chat/completions', body)).text());
    assert.ok('error' in events.at(-1), `last event: ${JSON.stringify(events.at(-1))}`);
    const { error } = await collect(await client.chat.completions.create(body));
    assert.ok(error instanceof OpenAI.APIError, `${error?.constructor?.name}: ${error}`);
  });
});

describe('errors', () => {
  const params = { model: HAIKU, messages: [{ role: 'user', content: 'Hi' }] };

  test('a wrong API key is a 401 invalid_api_key', async () => {
    const bad = new OpenAI({ baseURL: gw.baseURL, apiKey: 'sk-not-a-key', maxRetries: 0 });
    await assert.rejects(bad.chat.completions.create(params), (err) => {
      assert.ok(err instanceof OpenAI.AuthenticationError, `${err?.constructor?.name}: ${err}`);
      assert.equal(err.status, 401);
      assert.equal(err.code, 'invalid_api_key');
      return true;
    });
    const res = await post('/chat/completions', params, { apiKey: 'sk-not-a-key' });
    assert.equal(res.status, 401);
    const body = await jsonBody(res);
    assertValid('ErrorResponse', body);
    assert.equal(body.error.code, 'invalid_api_key');
  });

  test('an unknown model is a 404 model_not_found', async () => {
    const missing = { ...params, model: 'anthropic.no-such-model-v9:0' };
    await assert.rejects(client.chat.completions.create(missing), (err) => {
      assert.ok(err instanceof OpenAI.NotFoundError, `${err?.constructor?.name}: ${err}`);
      assert.equal(err.status, 404);
      assert.equal(err.code, 'model_not_found');
      return true;
    });
    const res = await post('/chat/completions', missing);
    assert.equal(res.status, 404);
    assertValid('ErrorResponse', await jsonBody(res));
  });

  test('throttling is a 429 rate_limit_exceeded with retry-after', async () => {
    const throttled = { ...params, messages: [{ role: 'user', content: 'Hi [sim:error=ThrottlingException]' }] };
    await assert.rejects(client.chat.completions.create(throttled), (err) => {
      assert.ok(err instanceof OpenAI.RateLimitError, `${err?.constructor?.name}: ${err}`);
      assert.equal(err.status, 429);
      assert.equal(err.type, 'requests');
      assert.equal(err.code, 'rate_limit_exceeded');
      const ra = err.headers?.get('retry-after');
      assert.ok(ra, 'retry-after header present');
      assert.ok(Number(ra) >= 0 || !Number.isNaN(Date.parse(ra)), `retry-after ${ra} is seconds or an HTTP date`);
      return true;
    });
    const res = await post('/chat/completions', throttled);
    assert.equal(res.status, 429);
    assertValid('ErrorResponse', await jsonBody(res));
  });
});

describe('models', () => {
  test('models.list contains the haiku model', async () => {
    const ids = [];
    for await (const m of client.models.list()) ids.push(m.id);
    assert.ok(ids.includes(HAIKU), `models: ${ids.join(', ')}`);
    const res = await get('/models');
    assert.equal(res.status, 200);
    assertValid('ListModelsResponse', await jsonBody(res));
  });

  test('models.retrieve', async () => {
    const { data: m } = await client.models.retrieve(HAIKU).withResponse();
    assert.equal(m.id, HAIKU);
    assert.equal(m.object, 'model');
    const res = await get(`/models/${encodeURIComponent(HAIKU)}`);
    assert.equal(res.status, 200);
    const body = await jsonBody(res);
    assertValid('Model', body);
    assert.equal(body.id, HAIKU);
    assert.equal(body.owned_by, m.owned_by);
  });

  test('the API is also served under /api/v1', async () => {
    const alt = new OpenAI({ baseURL: `${gw.origin}/api/v1`, apiKey: DEMO_KEY, maxRetries: 0 });
    const page = await alt.models.list();
    assert.ok(page.data.some((m) => m.id === HAIKU));
  });
});
