// Drives POST /v1/embeddings with the official OpenAI JavaScript SDK,
// unmodified. The SDK asks for base64 when the caller names no
// encoding_format and decodes it itself, so both encodings are exercised by
// ordinary calls; every raw body is checked against OpenAI's specification.

import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';

import OpenAI from 'openai';

import { DEMO_KEY, startGateway } from './gateway.mjs';
import { assertValid } from './openapi.mjs';

const TITAN_V2 = 'amazon.titan-embed-text-v2:0';
const COHERE = 'cohere.embed-english-v3';
const TEXTS = ['The food was delicious.', 'The waiter was friendly.', 'Tollgate meters every token.'];

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

/** floatsOf decodes OpenAI's base64 embedding: little-endian float32 values. */
function floatsOf(b64) {
  const buf = Buffer.from(b64, 'base64');
  assert.equal(buf.length % 4, 0, 'base64 holds whole float32 values');
  const out = [];
  for (let i = 0; i < buf.length; i += 4) out.push(buf.readFloatLE(i));
  return out;
}

/**
 * assertEmbeddingBody validates a raw response body against
 * CreateEmbeddingResponse. The spec describes only float vectors, so a
 * base64 embedding is validated as the floats it encodes.
 */
function assertEmbeddingBody(body) {
  const copy = structuredClone(body);
  for (const d of copy.data ?? []) {
    if (typeof d.embedding === 'string') d.embedding = floatsOf(d.embedding);
  }
  assertValid('CreateEmbeddingResponse', copy);
}

/** f32 rounds float vectors to the float32 values the gateway sent. */
const f32 = (vectors) => vectors.map((v) => Array.from(v, Math.fround));

async function raw(body) {
  const res = await client.embeddings.create(body).asResponse();
  const text = await res.text();
  assert.match(res.headers.get('content-type') ?? '', /^application\/json\b/, text);
  return { status: res.status, body: JSON.parse(text) };
}

describe('embeddings', () => {
  test('the SDK default (base64, decoded by the SDK) equals float', async () => {
    const decoded = await client.embeddings.create({ model: TITAN_V2, input: TEXTS });
    const floats = await client.embeddings.create({ model: TITAN_V2, input: TEXTS, encoding_format: 'float' });
    assert.equal(decoded.object, 'list');
    assert.equal(decoded.model, TITAN_V2);
    assert.equal(decoded.data.length, TEXTS.length);
    decoded.data.forEach((d, i) => {
      assert.equal(d.index, i);
      assert.equal(d.object, 'embedding');
      assert.equal(d.embedding.length, 1024, "Titan v2's default dimensions");
    });
    assert.deepEqual(f32(decoded.data.map((d) => d.embedding)), f32(floats.data.map((d) => d.embedding)));
    const { prompt_tokens: p, total_tokens: t } = floats.usage;
    assert.ok(Number.isInteger(p) && p > 0, `prompt_tokens ${p}`);
    assert.equal(t, p, 'total_tokens = prompt_tokens');
    assert.deepEqual(decoded.usage, floats.usage);
  });

  test('raw bodies, float and base64, are valid', async () => {
    const float = await raw({ model: TITAN_V2, input: TEXTS, encoding_format: 'float' });
    assert.equal(float.status, 200);
    assertEmbeddingBody(float.body);
    assert.ok(float.body.data.every((d) => Array.isArray(d.embedding)));

    const b64 = await raw({ model: TITAN_V2, input: TEXTS, encoding_format: 'base64' });
    assert.equal(b64.status, 200);
    assertEmbeddingBody(b64.body);
    assert.ok(b64.body.data.every((d) => typeof d.embedding === 'string'), 'base64 strings');
    assert.deepEqual(b64.body.data.map((d) => floatsOf(d.embedding)), f32(float.body.data.map((d) => d.embedding)));
  });

  test('an explicit base64 is returned as the SDK received it', async () => {
    const res = await client.embeddings.create({ model: TITAN_V2, input: 'hello world', encoding_format: 'base64' });
    assert.equal(typeof res.data[0].embedding, 'string');
    const text = await client.embeddings.create({ model: TITAN_V2, input: 'hello world' });
    assert.deepEqual(floatsOf(res.data[0].embedding), f32([text.data[0].embedding])[0]);
  });

  test('token inputs are cl100k_base tokens', async () => {
    const text = await client.embeddings.create({ model: TITAN_V2, input: ['hello world', 'hello'] });
    const tokens = await client.embeddings.create({ model: TITAN_V2, input: [[15339, 1917], [15339]] });
    assert.deepEqual(f32(tokens.data.map((d) => d.embedding)), f32(text.data.map((d) => d.embedding)));
    const one = await client.embeddings.create({ model: TITAN_V2, input: [15339, 1917] });
    assert.deepEqual(f32([one.data[0].embedding]), f32([text.data[0].embedding]));
  });

  test('dimensions', async () => {
    const res = await client.embeddings.create({ model: TITAN_V2, input: 'x', dimensions: 256 });
    assert.equal(res.data[0].embedding.length, 256);
    await assert.rejects(client.embeddings.create({ model: TITAN_V2, input: 'x', dimensions: 300 }), (err) => {
      assert.ok(err instanceof OpenAI.BadRequestError, `${err}`);
      assert.equal(err.param, 'dimensions');
      assert.equal(err.code, 'unsupported_value');
      assertValid('ErrorResponse', { error: err.error });
      return true;
    });
  });

  test('Cohere batches keep the order', async () => {
    const inputs = Array.from({ length: 100 }, (_, i) => `text number ${i}`);
    const all = await client.embeddings.create({ model: COHERE, input: inputs });
    assert.equal(all.data.length, 100);
    for (const i of [0, 50, 99]) {
      const alone = await client.embeddings.create({ model: COHERE, input: inputs[i] });
      assert.deepEqual(f32([all.data[i].embedding]), f32([alone.data[0].embedding]), `input ${i}`);
    }
  });

  test('errors are OpenAI errors', async () => {
    for (const [body, status, param] of [
      [{ model: TITAN_V2, input: '' }, 400, 'input'],
      [{ model: TITAN_V2, input: ['a', ''] }, 400, 'input[1]'],
      [{ model: 'anthropic.claude-3-haiku-20240307-v1:0', input: 'x' }, 400, 'model'],
      [{ model: TITAN_V2, input: 'x [sim:error=ThrottlingException]' }, 429, null],
    ]) {
      const res = await client.embeddings.create(body).catch((err) => err);
      assert.ok(res instanceof OpenAI.APIError, `${JSON.stringify(body)}: ${res}`);
      assert.equal(res.status, status);
      assert.equal(res.param ?? null, param);
      assertValid('ErrorResponse', { error: res.error });
    }
  });

  test('/v1/models lists the embedding models', async () => {
    const ids = [];
    for await (const m of client.models.list()) ids.push(m.id);
    for (const id of [TITAN_V2, 'amazon.titan-embed-text-v1', COHERE, 'cohere.embed-multilingual-v3']) {
      assert.ok(ids.includes(id), `models lack ${id}`);
    }
  });
});
