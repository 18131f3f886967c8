// Bedrock's own API through Tollgate, as the AWS SDK for JavaScript v3 sees
// it: BedrockRuntimeClient with its endpoint at /bedrock and a Tollgate key
// in AWS_BEARER_TOKEN_BEDROCK, over its default HTTP/2 handler (h2c against
// an http:// endpoint).

import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';

import {
  AccessDeniedException,
  BedrockRuntimeClient,
  ConverseCommand,
  ConverseStreamCommand,
  CountTokensCommand,
  InvokeModelCommand,
  InvokeModelWithResponseStreamCommand,
  ServiceQuotaExceededException,
} from '@aws-sdk/client-bedrock-runtime';

import { startGateway } from './gateway.mjs';

const HAIKU = 'anthropic.claude-3-haiku-20240307-v1:0';
const HAIKU35 = 'us.anthropic.claude-3-5-haiku-20241022-v1:0';
const SONNET = 'anthropic.claude-3-5-sonnet-20240620-v1:0';
const FREE = 'sk-test-bedrock-free-0123456789';
const BROKE = 'sk-test-bedrock-broke-0123456789';

let gw;
let policies;

before(async () => {
  policies = mkdtempSync(path.join(tmpdir(), 'tollgate-bedrock-'));
  const sha = (s) => createHash('sha256').update(s).digest('hex');
  writeFileSync(path.join(policies, 'policy.yaml'), `keys:
  - id: free
    sha256: "${sha(FREE)}"
    models: ["anthropic.claude-3-haiku-*", "us.anthropic.claude-3-5-haiku-*"]
  - id: broke
    sha256: "${sha(BROKE)}"
    monthly_budget_usd: 0.000001
pricing:
  anthropic.claude-3-haiku-20240307-v1:0: {input: 0.25, output: 1.25}
`);
  gw = await startGateway({ args: ['-policies', policies] });
});

after(async () => {
  rmSync(policies, { recursive: true, force: true });
  if (!gw) return;
  const { code, signal } = await gw.stop();
  assert.equal(code, 0, `gateway exit: code ${code}, signal ${signal}\n${gw.logs()}`);
});

/**
 * client returns a BedrockRuntimeClient as a user sets one up for Tollgate:
 * the key in AWS_BEARER_TOKEN_BEDROCK, which the SDK reads when it signs
 * (the tests of this file run one after the other).
 */
function client(key) {
  process.env.AWS_BEARER_TOKEN_BEDROCK = key;
  return new BedrockRuntimeClient({ region: 'us-east-1', endpoint: `${gw.origin}/bedrock`, maxAttempts: 3 });
}

const claudeBody = (prompt, maxTokens) => JSON.stringify({
  anthropic_version: 'bedrock-2023-05-31', max_tokens: maxTokens, messages: [{ role: 'user', content: prompt }],
});

const converseInput = (modelId, prompt) => ({
  modelId, messages: [{ role: 'user', content: [{ text: prompt }] }], inferenceConfig: { maxTokens: 100 },
});

/** requestLines returns the request log lines of the broke key so far. */
function requestLines() {
  return gw.logs().split('\n').flatMap((line) => {
    try {
      const rec = JSON.parse(line);
      return rec.msg === 'request' && rec.key_id === 'broke' ? [rec] : [];
    } catch {
      return [];
    }
  });
}

test('the default handler is HTTP/2', () => {
  assert.equal(client(FREE).config.requestHandler.constructor.name, 'NodeHttp2Handler');
});

test('Converse and ConverseStream', async () => {
  const c = client(FREE);
  const out = await c.send(new ConverseCommand(converseInput(HAIKU, 'Say hello.')));
  assert.ok(out.output.message.content[0].text.length > 0);
  assert.ok(out.usage.outputTokens > 0);

  const stream = await c.send(new ConverseStreamCommand(converseInput(HAIKU, 'Say hello.')));
  let text = '';
  let usage;
  let stop;
  for await (const ev of stream.stream) {
    if (ev.contentBlockDelta?.delta?.text) text += ev.contentBlockDelta.delta.text;
    if (ev.messageStop) stop = ev.messageStop.stopReason;
    if (ev.metadata) usage = ev.metadata.usage;
  }
  assert.ok(text.length > 0);
  assert.equal(stop, 'end_turn');
  assert.ok(usage.outputTokens > 0);
});

test('InvokeModel, InvokeModelWithResponseStream and CountTokens with a Claude body', async () => {
  const c = client(FREE);
  const out = await c.send(new InvokeModelCommand({ modelId: HAIKU, contentType: 'application/json', body: claudeBody('Say hello.', 50) }));
  const msg = JSON.parse(new TextDecoder().decode(out.body));
  assert.equal(msg.type, 'message');
  assert.ok(msg.usage.output_tokens > 0);

  const stream = await c.send(new InvokeModelWithResponseStreamCommand({ modelId: HAIKU, contentType: 'application/json', body: claudeBody('Say hello.', 50) }));
  const types = [];
  let metrics;
  for await (const ev of stream.body) {
    const e = JSON.parse(new TextDecoder().decode(ev.chunk.bytes));
    types.push(e.type);
    metrics ??= e['amazon-bedrock-invocationMetrics'];
  }
  assert.equal(types[0], 'message_start');
  assert.equal(types.at(-1), 'message_stop');
  assert.ok(metrics.outputTokenCount > 0);

  const counted = await c.send(new CountTokensCommand({ modelId: HAIKU35, input: { invokeModel: { body: claudeBody('Say hello.', 50) } } }));
  assert.ok(counted.inputTokens > 0);
});

test('a model outside the key\'s allowlist is an AccessDeniedException', async () => {
  await assert.rejects(client(FREE).send(new ConverseCommand(converseInput(SONNET, 'Hi'))), (err) => {
    assert.ok(err instanceof AccessDeniedException, `want AccessDeniedException, got ${err.name}: ${err.message}`);
    assert.equal(err.$metadata.httpStatusCode, 403);
    return true;
  });
});

test('a budget refusal is a ServiceQuotaExceededException, sent once though the SDK retries', async () => {
  const before = requestLines().length;
  await assert.rejects(client(BROKE).send(new ConverseCommand(converseInput(HAIKU, 'Hi'))), (err) => {
    assert.ok(err instanceof ServiceQuotaExceededException, `want ServiceQuotaExceededException, got ${err.name}: ${err.message}`);
    assert.equal(err.$metadata.httpStatusCode, 400);
    assert.match(err.message, /budget/);
    assert.equal(err.$metadata.attempts, 1);
    return true;
  });
  await new Promise((resolve) => setTimeout(resolve, 200)); // the log line is written after the response
  assert.equal(requestLines().length - before, 1);
});
