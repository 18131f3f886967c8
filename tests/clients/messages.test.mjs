// Drives the gateway's Anthropic Messages API with the official Anthropic
// TypeScript SDK, unmodified, the way an application would. One gateway
// (with its Bedrock simulator) serves the whole file; its policy adds a key
// whose budget is spent, to see a budget refusal as the SDK sees it.

import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { rmSync } from 'node:fs';

import Anthropic from '@anthropic-ai/sdk';

import { BROKE_KEY, SONNET, brokePolicy } from './anthropic.mjs';
import { DEMO_KEY, startGateway } from './gateway.mjs';

const WEATHER_TOOL = {
  name: 'get_weather',
  description: 'Get the current weather for a city.',
  input_schema: { type: 'object', properties: { city: { type: 'string' } }, required: ['city'] },
};

let gw;
let client;
let policyDir;

before(async () => {
  policyDir = brokePolicy();
  gw = await startGateway({ args: ['-policies', policyDir] });
  client = new Anthropic({ baseURL: gw.origin, apiKey: DEMO_KEY, maxRetries: 0, timeout: 10_000 });
});

after(async () => {
  if (policyDir) rmSync(policyDir, { recursive: true, force: true });
  if (!gw) return;
  const { code, signal } = await gw.stop();
  assert.equal(code, 0, `gateway exit: code ${code}, signal ${signal}\n${gw.logs()}`);
});

describe('messages', () => {
  test('a plain message, with usage', async () => {
    const msg = await client.messages.create({
      model: SONNET, max_tokens: 200, messages: [{ role: 'user', content: 'Hello there' }],
    });
    assert.equal(msg.type, 'message');
    assert.equal(msg.role, 'assistant');
    assert.equal(msg.stop_reason, 'end_turn');
    assert.match(msg.content[0].text, /simulated reply from Claude Sonnet 4\.5 to: Hello there/);
    assert.ok(msg.usage.input_tokens > 0 && msg.usage.output_tokens > 0, JSON.stringify(msg.usage));
    assert.equal(msg.usage.cache_read_input_tokens, 0);
  });

  test('a stream, event by event, with the total output tokens', async () => {
    const stream = client.messages.stream({
      model: SONNET, max_tokens: 200, messages: [{ role: 'user', content: 'Stream please' }],
    });
    const types = [];
    let text = '';
    stream.on('streamEvent', (ev) => types.push(ev.type));
    stream.on('text', (t) => { text += t; });
    const msg = await stream.finalMessage();
    assert.match(text, /simulated reply/);
    assert.equal(types[0], 'message_start');
    assert.equal(types.at(-1), 'message_stop');
    assert.ok(types.includes('message_delta') && types.includes('content_block_delta'), types.join(','));
    assert.ok(msg.usage.output_tokens > 1, JSON.stringify(msg.usage));
  });

  test('tool use with thinking, round trip with the signature sent back', async () => {
    const params = {
      model: SONNET, max_tokens: 2000, thinking: { type: 'enabled', budget_tokens: 1024 }, tools: [WEATHER_TOOL],
      messages: [{ role: 'user', content: 'What is the get_weather in Paris?' }],
    };
    const first = await client.messages.create(params);
    assert.equal(first.stop_reason, 'tool_use');
    assert.deepEqual(first.content.map((b) => b.type), ['thinking', 'text', 'tool_use']);
    assert.ok(first.content[0].signature.length > 0);
    const call = first.content[2];
    assert.deepEqual(call.input, { city: 'example' });
    const second = await client.messages.create({
      ...params,
      messages: [...params.messages, { role: 'assistant', content: first.content },
        { role: 'user', content: [{ type: 'tool_result', tool_use_id: call.id, content: 'Sunny, 21C' }] }],
    });
    assert.match(second.content.at(-1).text, /The tool returned: Sunny, 21C/);
  });

  test('beta messages (?beta=true) with flags Bedrock does not take', async () => {
    const msg = await client.beta.messages.create({
      model: SONNET, max_tokens: 100, betas: ['claude-code-20250219', 'interleaved-thinking-2025-05-14', 'prompt-caching-scope-2026-01-05'],
      messages: [{ role: 'user', content: 'Beta hello' }],
    });
    assert.match(msg.content[0].text, /simulated reply/);
  });

  test('count_tokens', async () => {
    const count = await client.messages.countTokens({ model: SONNET, messages: [{ role: 'user', content: 'Hello there' }] });
    assert.equal(count.input_tokens, 3);
  });

  test('errors in Anthropic\'s envelope', async () => {
    await assert.rejects(
      new Anthropic({ baseURL: gw.origin, apiKey: 'sk-nobody', maxRetries: 0 }).messages.create({
        model: SONNET, max_tokens: 10, messages: [{ role: 'user', content: 'x' }],
      }),
      (err) => err instanceof Anthropic.AuthenticationError && err.error?.error?.type === 'authentication_error',
    );
    await assert.rejects(
      client.messages.create({ model: SONNET, max_tokens: 10, messages: [] }),
      (err) => err instanceof Anthropic.BadRequestError && err.error?.error?.type === 'invalid_request_error' && /messages/.test(err.message),
    );
    await assert.rejects(
      client.messages.create({ model: 'amazon.nova-micro-v1:0', max_tokens: 10, messages: [{ role: 'user', content: 'x' }] }),
      (err) => err instanceof Anthropic.BadRequestError && /not a Claude model/.test(err.message),
    );
  });

  test('a budget refusal is a 429 the SDK does not retry', async () => {
    let calls = 0;
    const broke = new Anthropic({
      baseURL: gw.origin, apiKey: BROKE_KEY, maxRetries: 3,
      fetch: (url, init) => { calls += 1; return fetch(url, init); },
    });
    for (const stream of [false, true]) {
      calls = 0;
      await assert.rejects(
        broke.messages.create({ model: SONNET, max_tokens: 100, stream, messages: [{ role: 'user', content: 'x' }] }),
        (err) => err instanceof Anthropic.RateLimitError && /budget/.test(err.message) && /resets/.test(err.message)
          && err.headers.get('x-should-retry') === 'false',
      );
      assert.equal(calls, 1, `stream ${stream}: the SDK retried a budget refusal`);
    }
  });

  test('models in Anthropic\'s shape', async () => {
    const ids = [];
    for await (const m of client.models.list()) {
      assert.equal(m.type, 'model');
      assert.ok(m.display_name && m.created_at, JSON.stringify(m));
      ids.push(m.id);
    }
    assert.ok(ids.some((id) => id.includes('claude-sonnet-4-5')), ids.join(','));
  });
});
