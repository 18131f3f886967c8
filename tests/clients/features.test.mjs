// Drives the OpenAI surface beyond plain chat with the official OpenAI
// JavaScript SDK, unmodified: an image sent by URL (served here, and allowed
// through the gateway's SSRF guard), a reasoning stream, and structured
// output. Every raw body and chunk is checked against OpenAI's specification.

import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import http from 'node:http';
import zlib from 'node:zlib';

import OpenAI from 'openai';

import { DEMO_KEY, startGateway } from './gateway.mjs';
import { assertValid } from './openapi.mjs';

const HAIKU = 'anthropic.claude-3-haiku-20240307-v1:0';
const SONNET_37 = 'us.anthropic.claude-3-7-sonnet-20250219-v1:0';
const SONNET_45 = 'us.anthropic.claude-sonnet-4-5-20250929-v1:0';

/** png returns a valid 1x1 PNG. */
function png() {
  const crc = (buf) => {
    let c = ~0;
    for (const b of buf) {
      c ^= b;
      for (let k = 0; k < 8; k++) c = (c >>> 1) ^ (0xedb88320 & -(c & 1));
    }
    return ~c >>> 0;
  };
  const chunk = (type, data) => {
    const len = Buffer.alloc(4);
    len.writeUInt32BE(data.length);
    const td = Buffer.concat([Buffer.from(type), data]);
    const sum = Buffer.alloc(4);
    sum.writeUInt32BE(crc(td));
    return Buffer.concat([len, td, sum]);
  };
  const ihdr = Buffer.from([0, 0, 0, 1, 0, 0, 0, 1, 8, 2, 0, 0, 0]);
  const idat = zlib.deflateSync(Buffer.from([0, 255, 0, 0]));
  return Buffer.concat([Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]),
    chunk('IHDR', ihdr), chunk('IDAT', idat), chunk('IEND', Buffer.alloc(0))]);
}

let gw;
let client;
let images;
let imageHits = 0;

before(async () => {
  images = http.createServer((req, res) => {
    imageHits++;
    res.writeHead(200, { 'content-type': 'application/octet-stream' }); // the bytes decide
    res.end(png());
  });
  await new Promise((resolve) => images.listen(0, '127.0.0.1', resolve));
  gw = await startGateway({ args: ['-image-allow-private', '127.0.0.1/32'] });
  client = new OpenAI({ baseURL: gw.baseURL, apiKey: DEMO_KEY, maxRetries: 0, timeout: 10_000 });
});

after(async () => {
  images?.close();
  if (!gw) return;
  const { code, signal } = await gw.stop();
  assert.equal(code, 0, `gateway exit: code ${code}, signal ${signal}\n${gw.logs()}`);
});

describe('features', () => {
  test('an image by URL is fetched by the gateway and sent to Bedrock', async () => {
    const url = `http://127.0.0.1:${images.address().port}/photo.png`;
    const before = imageHits;
    const data = await client.chat.completions.create({
      model: HAIKU,
      messages: [{ role: 'user', content: [
        { type: 'text', text: 'What is in this picture?' },
        { type: 'image_url', image_url: { url } },
      ] }],
    });
    assertValid('CreateChatCompletionResponse', JSON.parse(JSON.stringify(data)));
    assert.equal(imageHits, before + 1, 'the gateway fetched the image once');
    // The simulator bills an image 1,600 tokens: Bedrock got it.
    assert.ok(data.usage.prompt_tokens >= 1600, `prompt_tokens ${data.usage.prompt_tokens}`);
  });

  test('an image URL on a private address is refused without the allowance', async () => {
    await assert.rejects(
      client.chat.completions.create({
        model: HAIKU,
        messages: [{ role: 'user', content: [
          { type: 'text', text: 'Look' },
          { type: 'image_url', image_url: { url: 'http://169.254.169.254/latest/meta-data/' } },
        ] }],
      }),
      (err) => err instanceof OpenAI.BadRequestError && err.code === 'invalid_image_url'
        && err.param === 'messages[0].content[1].image_url',
    );
  });

  test('a reasoning stream sends reasoning before the answer', async () => {
    const stream = await client.chat.completions.create({
      model: SONNET_37,
      reasoning_effort: 'low',
      stream: true,
      stream_options: { include_usage: true },
      messages: [{ role: 'user', content: 'How many prime numbers are below 20?' }],
    });
    let reasoning = '';
    let content = '';
    let reasoningFirst = null;
    let usage = null;
    for await (const chunk of stream) {
      assertValid('CreateChatCompletionStreamResponse', chunk);
      if (chunk.usage) usage = chunk.usage;
      const delta = chunk.choices[0]?.delta ?? {};
      if (delta.reasoning_content) {
        reasoning += delta.reasoning_content;
        if (reasoningFirst === null) reasoningFirst = true;
      }
      if (delta.content) {
        content += delta.content;
        if (reasoningFirst === null) reasoningFirst = false;
      }
    }
    assert.ok(reasoning.length > 0 && content.length > 0, `reasoning ${reasoning.length}, content ${content.length}`);
    assert.equal(reasoningFirst, true, 'reasoning came before the answer');
    assert.ok(usage?.completion_tokens_details?.reasoning_tokens > 0, JSON.stringify(usage));
  });

  test('structured output returns JSON matching the schema', async () => {
    const schema = {
      type: 'object',
      properties: { city: { type: 'string' }, population: { type: 'integer' } },
      required: ['city', 'population'],
      additionalProperties: false,
    };
    for (const model of [SONNET_45, HAIKU]) {
      const data = await client.chat.completions.create({
        model,
        messages: [{ role: 'user', content: 'Describe Paris.' }],
        response_format: { type: 'json_schema', json_schema: { name: 'city', schema, strict: true } },
      });
      assertValid('CreateChatCompletionResponse', JSON.parse(JSON.stringify(data)));
      const choice = data.choices[0];
      assert.equal(choice.finish_reason, 'stop', model);
      assert.equal(choice.message.tool_calls, undefined, model);
      const parsed = JSON.parse(choice.message.content);
      assert.equal(typeof parsed.city, 'string', model);
      assert.ok(Number.isInteger(parsed.population), model);
    }
  });
});
