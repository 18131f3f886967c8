// Drives the gateway's Responses API (POST /v1/responses) with the official
// OpenAI JavaScript SDK, unmodified: responses.create plain and streamed,
// responses.stream, a function tool round trip. Every body and stream event
// is checked against OpenAI's OpenAPI specification.

import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';

import OpenAI from 'openai';

import { DEMO_KEY, startGateway } from './gateway.mjs';
import { assertValid } from './openapi.mjs';

const HAIKU = 'anthropic.claude-3-haiku-20240307-v1:0';

const WEATHER_TOOL = {
  type: 'function',
  name: 'get_weather',
  description: 'Get the current weather for a city.',
  strict: true,
  parameters: {
    $schema: 'http://json-schema.org/draft-07/schema#',
    type: 'object',
    properties: { city: { type: 'string', description: 'City name' } },
    required: ['city'],
    additionalProperties: false,
  },
};

let gw;
let client;

before(async () => {
  gw = await startGateway();
  client = new OpenAI({ baseURL: gw.baseURL, apiKey: DEMO_KEY, maxRetries: 0, timeout: 10_000 });
});

after(async () => {
  if (!gw) return;
  const { code, signal } = await gw.stop();
  assert.equal(code, 0, `gateway exit: code ${code}, signal ${signal}\n${gw.logs()}`);
});

function assertUsage(usage) {
  assert.ok(usage, 'usage present');
  const { input_tokens: i, output_tokens: o, total_tokens: t } = usage;
  assert.ok(Number.isInteger(i) && i > 0, `input_tokens ${i}`);
  assert.ok(Number.isInteger(o) && o > 0, `output_tokens ${o}`);
  assert.equal(t, i + o, 'total_tokens = input_tokens + output_tokens');
  assert.equal(typeof usage.input_tokens_details.cached_tokens, 'number');
  assert.equal(typeof usage.output_tokens_details.reasoning_tokens, 'number');
}

/** collect iterates an SDK event stream, validating each event. */
async function collect(stream) {
  const events = [];
  for await (const ev of stream) {
    assertValid('ResponseStreamEvent', ev);
    events.push(ev);
  }
  events.forEach((ev, i) => assert.equal(ev.sequence_number, i, `sequence_number of event ${i}`));
  return events;
}

describe('responses', () => {
  test('plain: SDK result and raw body', async () => {
    const { data, response } = await client.responses.create({
      model: HAIKU, instructions: 'Be brief.', input: 'Say hello in five words.', store: false, max_output_tokens: 200,
    }).withResponse();
    assert.equal(response.status, 200);
    assert.equal(data.object, 'response');
    assert.match(data.id, /^resp_/);
    assert.equal(data.status, 'completed');
    assert.ok(data.output_text.length > 0, 'output_text non-empty');
    assertUsage(data.usage);

    const raw = await client.responses.create({ model: HAIKU, input: 'Say hello in five words.' }).asResponse();
    const body = await raw.json();
    assertValid('Response', body);
    assert.equal(body.output[0].type, 'message');
    assert.equal(body.output[0].content[0].type, 'output_text');
  });

  test('stream: true, the full event sequence', async () => {
    const stream = await client.responses.create({ model: HAIKU, input: 'Tell me a story [sim:tokens=15]', stream: true });
    const events = await collect(stream);
    const types = events.map((e) => e.type);
    assert.deepEqual(types.slice(0, 4), ['response.created', 'response.in_progress', 'response.output_item.added', 'response.content_part.added']);
    assert.deepEqual(types.slice(-4), ['response.output_text.done', 'response.content_part.done', 'response.output_item.done', 'response.completed']);
    const text = events.filter((e) => e.type === 'response.output_text.delta').map((e) => e.delta).join('');
    const done = events.at(-1).response;
    assertValid('Response', done);
    assert.equal(done.output[0].content[0].text, text);
    assert.equal(done.usage.output_tokens, 15);
  });

  test('responses.stream helper and finalResponse', async () => {
    const stream = client.responses.stream({ model: HAIKU, input: [{ role: 'user', content: [{ type: 'input_text', text: 'Hello again' }] }] });
    let deltas = '';
    stream.on('response.output_text.delta', (e) => { deltas += e.delta; });
    const final = await stream.finalResponse();
    assert.equal(final.status, 'completed');
    assert.equal(final.output_text, deltas);
    assertUsage(final.usage);
  });

  test('function tool: call, then its output in the next turn', async () => {
    const input = [{ role: 'user', content: 'What is the weather in Paris? [sim:tool]' }];
    const first = await client.responses.create({ model: HAIKU, input, tools: [WEATHER_TOOL] });
    assertValid('Response', JSON.parse(JSON.stringify(first)));
    const call = first.output.find((o) => o.type === 'function_call');
    assert.ok(call, `a function call in ${JSON.stringify(first.output)}`);
    assert.equal(call.name, 'get_weather');
    assert.equal(typeof JSON.parse(call.arguments), 'object');

    const stream = await client.responses.create({
      model: HAIKU, tools: [WEATHER_TOOL], stream: true,
      input: [...input, call, { type: 'function_call_output', call_id: call.call_id, output: '{"temperature_c":21}' }],
    });
    const events = await collect(stream);
    const done = events.at(-1);
    assert.equal(done.type, 'response.completed');
    assert.ok(done.response.output_text === undefined || typeof done.response.output_text === 'string');
    assert.ok(done.response.output.some((o) => o.type === 'message'), 'the model answers with text');
  });

  test('errors in OpenAI envelope: hosted tools and previous_response_id are refused', async () => {
    await assert.rejects(client.responses.create({ model: HAIKU, input: 'Hi', tools: [{ type: 'web_search' }] }),
      (err) => err.status === 400 && err.param === 'tools[0].type');
    await assert.rejects(client.responses.create({ model: HAIKU, input: 'Hi', previous_response_id: 'resp_123' }),
      (err) => err.status === 400 && err.param === 'previous_response_id');
  });

  test('a broken Bedrock stream ends with response.failed', async () => {
    const stream = await client.responses.create({ model: HAIKU, input: 'Tell me a story [sim:tokens=40] [sim:cut]', stream: true });
    const events = [];
    let error;
    try {
      for await (const ev of stream) events.push(ev);
    } catch (err) {
      error = err;
    }
    assert.ok(error || events.at(-1)?.type === 'response.failed', `ends failed: ${events.map((e) => e.type)}`);
    assert.ok(!events.some((e) => e.type === 'response.completed'), 'never response.completed');
  });
});
