// A budget refusal, as the official OpenAI JavaScript SDK sees it: the SDK
// retries a 429 unless the response says `x-should-retry: false`, so a
// refused request must reach the gateway once, whatever the client's
// maxRetries.

import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';

import OpenAI from 'openai';

import { startGateway } from './gateway.mjs';

const HAIKU = 'anthropic.claude-3-haiku-20240307-v1:0';
const SECRET = 'sk-test-budget-0123456789';

let gw;
let policies;

before(async () => {
  // A key whose cap affords no request: a micro-dollar.
  policies = mkdtempSync(path.join(tmpdir(), 'tollgate-budget-'));
  const sha = createHash('sha256').update(SECRET).digest('hex');
  writeFileSync(path.join(policies, 'policy.yaml'),
    `keys:\n  - id: broke\n    sha256: "${sha}"\n    monthly_budget_usd: 0.000001\n`);
  gw = await startGateway({ args: ['-policies', policies] }); // the last -policies wins
});

after(async () => {
  rmSync(policies, { recursive: true, force: true });
  if (!gw) return;
  const { code, signal } = await gw.stop();
  assert.equal(code, 0, `gateway exit: code ${code}, signal ${signal}\n${gw.logs()}`);
});

/** requestLines returns the request log lines of POST /v1/chat/completions so far. */
function requestLines() {
  return gw.logs().split('\n').flatMap((line) => {
    try {
      const rec = JSON.parse(line);
      return rec.msg === 'request' && rec.path === '/v1/chat/completions' ? [rec] : [];
    } catch {
      return [];
    }
  });
}

test('a budget refusal reaches the gateway once, the SDK retrying nothing', async () => {
  // maxRetries 3: the SDK would send the request four times if it retried.
  const client = new OpenAI({ baseURL: gw.baseURL, apiKey: SECRET, maxRetries: 3, timeout: 10_000 });
  const started = Date.now();
  await assert.rejects(
    client.chat.completions.create({ model: HAIKU, max_tokens: 10, messages: [{ role: 'user', content: 'hello' }] }),
    (err) => {
      assert.ok(err instanceof OpenAI.RateLimitError, `want a RateLimitError, got ${err}`);
      assert.equal(err.status, 429);
      assert.equal(err.code, 'budget_exceeded');
      assert.equal(err.type, 'insufficient_quota');
      assert.equal(err.headers.get('x-should-retry'), 'false');
      assert.match(err.message, /could cost up to \$[\d.]+ .* more than the \$0\.000001 left/);
      assert.match(err.message, /max_tokens|shorten the prompt/);
      return true;
    },
  );
  // The log line of a request is written as it ends, in batches: wait for
  // it, then long enough for any retry's line to follow.
  const deadline = Date.now() + 5_000;
  while (requestLines().length === 0 && Date.now() < deadline) await sleep(20);
  await sleep(300);
  const lines = requestLines();
  assert.equal(lines.length, 1, `the gateway saw ${lines.length} requests:\n${lines.map((l) => JSON.stringify(l)).join('\n')}`);
  assert.equal(lines[0].status, 429);
  assert.equal(lines[0].error_code, 'budget_exceeded');
  assert.ok(Date.now() - started < 5_000, 'the SDK waited as if it backed off before retrying');
});

const sleep = (ms) => new Promise((resolve) => { setTimeout(resolve, ms); });
