// Runs the real Claude Code CLI (@anthropic-ai/claude-code, pinned in the
// lockfile) in print mode in its Bedrock mode against the gateway's /bedrock
// routes on the simulator: CLAUDE_CODE_USE_BEDROCK=1,
// ANTHROPIC_BEDROCK_BASE_URL and a Tollgate key in AWS_BEARER_TOKEN_BEDROCK.
// HOME is a temp dir and non-essential traffic is off, so it reaches nothing
// off the machine.

import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';

import { runClaude } from './anthropic.mjs';
import { DEMO_KEY, startGateway } from './gateway.mjs';

const HAIKU45 = 'us.anthropic.claude-haiku-4-5-20251001-v1:0';
const HAIKU_ONLY = 'sk-test-cc-haiku-0123456789';
const BROKE = 'sk-test-cc-broke-0123456789';

let gw;
let policies;
let home;

before(async () => {
  policies = mkdtempSync(path.join(tmpdir(), 'tollgate-cc-bedrock-'));
  home = mkdtempSync(path.join(tmpdir(), 'tollgate-cc-home-'));
  const sha = (s) => createHash('sha256').update(s).digest('hex');
  writeFileSync(path.join(policies, 'policy.yaml'), `keys:
  - id: haiku-only
    sha256: "${sha(HAIKU_ONLY)}"
    models: ["${HAIKU45}"]
  - id: broke
    sha256: "${sha(BROKE)}"
    monthly_budget_usd: 0.000001
pricing:
  anthropic.claude-haiku-4-5-20251001-v1:0: {input: 1, output: 5}
`);
  gw = await startGateway({ args: ['-policies', policies] });
});

after(async () => {
  for (const d of [policies, home]) if (d) rmSync(d, { recursive: true, force: true });
  if (!gw) return;
  const { code, signal } = await gw.stop();
  assert.equal(code, 0, `gateway exit: code ${code}, signal ${signal}\n${gw.logs()}`);
});

/**
 * claude runs `claude -p prompt --tools ''` in Bedrock mode with key and
 * ANTHROPIC_MODEL model (none when model is null: Claude Code picks its
 * default); killed after timeoutMs.
 */
function claude(prompt, key, { timeoutMs = 60_000, model = HAIKU45 } = {}) {
  const env = {
    PATH: process.env.PATH,
    HOME: home,
    CLAUDE_CODE_USE_BEDROCK: '1',
    ANTHROPIC_BEDROCK_BASE_URL: `${gw.origin}/bedrock`,
    AWS_BEARER_TOKEN_BEDROCK: key,
    AWS_REGION: 'us-east-1',
    CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC: '1',
    DISABLE_AUTOUPDATER: '1',
  };
  if (model !== null) env.ANTHROPIC_MODEL = model;
  return runClaude(['-p', prompt, '--tools', ''], { env, cwd: home, timeoutMs });
}

/** requests returns the request log lines of key so far. */
function requests(keyID) {
  return gw.logs().split('\n').flatMap((line) => {
    try {
      const rec = JSON.parse(line);
      return rec.msg === 'request' && rec.key_id === keyID ? [rec] : [];
    } catch {
      return [];
    }
  });
}

test('Claude Code answers from the simulator through /bedrock; its probes of models outside the allowlist get 403s that cost nothing', async () => {
  const r = await claude('Say hello to Tollgate', HAIKU_ONLY);
  assert.equal(r.code, 0, `exit ${r.code} ${r.signal}\nstdout:\n${r.stdout}\nstderr:\n${r.stderr}\ngateway:\n${gw.logs()}`);
  assert.match(r.stdout, /simulated reply from Claude Haiku 4\.5/);
  const lines = requests('haiku-only');
  assert.ok(lines.some((l) => l.model === HAIKU45 && l.stream && l.status === 200 && l.cost_micros > 0), 'no billed stream of Haiku 4.5');
  const probes = lines.filter((l) => l.model !== HAIKU45 && l.path !== '/bedrock/inference-profiles');
  assert.ok(probes.length > 0, 'Claude Code probed no other model');
  for (const p of probes) {
    assert.equal(p.status, 403, `probe ${JSON.stringify(p)}`);
    assert.equal(p.error_code, 'model_not_allowed');
    assert.ok(!p.upstream_request_id && !p.cost_micros, `probe reached Bedrock or cost: ${JSON.stringify(p)}`);
  }
});

test('Claude Code stops at once with the budget message for a key over its cap', async () => {
  const r = await claude('Say hello', BROKE);
  assert.notEqual(r.code, 0, `a broke key succeeded:\n${r.stdout}`);
  assert.match(r.stdout + r.stderr, /budget/i, `stdout:\n${r.stdout}\nstderr:\n${r.stderr}`);
  assert.ok(r.ms < 30_000, `took ${r.ms} ms: Claude Code retried the refusal`);
});

test('Claude Code with no ANTHROPIC_MODEL asks for its default profile, which the simulator serves', async () => {
  // Claude Code 2.1.332's Bedrock default is us.anthropic.claude-opus-5-5.
  const r = await claude('Say hello to Tollgate', DEMO_KEY, { model: null });
  assert.equal(r.code, 0, `exit ${r.code} ${r.signal}\nstdout:\n${r.stdout}\nstderr:\n${r.stderr}\ngateway:\n${gw.logs()}`);
  assert.match(r.stdout, /simulated reply from Claude Opus 5\.5/);
  const calls = requests('demo').filter((l) => l.path !== '/bedrock/inference-profiles');
  assert.ok(calls.some((l) => l.model === 'us.anthropic.claude-opus-5-5' && l.status === 200 && l.cost_micros > 0),
    `no billed call of us.anthropic.claude-opus-5-5: ${JSON.stringify(calls)}`);
  for (const l of calls) assert.equal(l.status, 200, JSON.stringify(l));
});
