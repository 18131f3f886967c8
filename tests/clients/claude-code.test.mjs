// Runs the real Claude Code CLI (@anthropic-ai/claude-code, pinned in the
// lockfile) in print mode against the gateway on its Bedrock simulator, the
// way a developer points it at Tollgate: ANTHROPIC_BASE_URL and
// ANTHROPIC_AUTH_TOKEN. HOME is a temp dir and non-essential traffic is off,
// so it reaches nothing off the machine.

import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';

import { BROKE_KEY, SONNET, brokePolicy, runClaude } from './anthropic.mjs';
import { DEMO_KEY, startGateway } from './gateway.mjs';

let gw;
let policyDir;
let home;

before(async () => {
  policyDir = brokePolicy();
  home = mkdtempSync(path.join(tmpdir(), 'tollgate-claude-home-'));
  gw = await startGateway({ args: ['-policies', policyDir] });
});

after(async () => {
  for (const d of [policyDir, home]) if (d) rmSync(d, { recursive: true, force: true });
  if (!gw) return;
  const { code, signal } = await gw.stop();
  assert.equal(code, 0, `gateway exit: code ${code}, signal ${signal}\n${gw.logs()}`);
});

/**
 * claude runs `claude -p prompt --model model` (no --model when model is
 * null: Claude Code picks its default) with the gateway's address and key,
 * and returns { code, stdout, stderr, ms }; it is killed after timeoutMs.
 */
function claude(prompt, { key = DEMO_KEY, timeoutMs = 60_000, args = [], model = SONNET } = {}) {
  const env = {
    PATH: process.env.PATH,
    HOME: home,
    ANTHROPIC_BASE_URL: gw.origin,
    ANTHROPIC_AUTH_TOKEN: key,
    CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC: '1',
    DISABLE_AUTOUPDATER: '1',
  };
  const modelArgs = model === null ? [] : ['--model', model];
  return runClaude(['-p', prompt, ...modelArgs, ...args], { env, cwd: home, timeoutMs });
}

describe('Claude Code', () => {
  test('answers from the simulator in print mode', async () => {
    const r = await claude('Say hello to Tollgate', { args: ['--tools', ''] });
    assert.equal(r.code, 0, `exit ${r.code} ${r.signal}\nstdout:\n${r.stdout}\nstderr:\n${r.stderr}\ngateway:\n${gw.logs()}`);
    assert.match(r.stdout, /simulated reply from Claude Sonnet 4\.5/);
    assert.match(gw.logs(), /"path":"\/v1\/messages"/);
  });

  test('with no --model, asks for its default model, which the simulator serves', async () => {
    // Claude Code 2.1.332's default is claude-opus-5-5 (adaptive thinking,
    // an effort, 128k max_tokens); the gateway routes it to its us. profile.
    const seen = gw.logs().split('\n').length;
    const r = await claude('Say hello to Tollgate', { model: null, args: ['--tools', ''] });
    assert.equal(r.code, 0, `exit ${r.code} ${r.signal}\nstdout:\n${r.stdout}\nstderr:\n${r.stderr}\ngateway:\n${gw.logs()}`);
    assert.match(r.stdout, /simulated reply from Claude Opus 5\.5/);
    const lines = gw.logs().split('\n').slice(seen).flatMap((line) => {
      try {
        const rec = JSON.parse(line);
        return rec.msg === 'request' && rec.path === '/v1/messages' ? [rec] : [];
      } catch {
        return [];
      }
    });
    assert.ok(lines.length > 0, `no /v1/messages request logged:\n${gw.logs()}`);
    for (const l of lines) {
      assert.equal(l.model, 'us.anthropic.claude-opus-5-5', `Claude Code asked for another default: add it to the simulator's catalog\n${JSON.stringify(l)}`);
      assert.equal(l.status, 200, JSON.stringify(l));
      assert.ok(l.cost_micros > 0, `not billed: ${JSON.stringify(l)}`);
    }
  });

  test('calls a tool and reads its result back, thinking kept across the turn', async () => {
    // [sim:tool] makes the simulated model call the one tool it is given:
    // Read of a file that does not exist, whose error comes back to it.
    const r = await claude('Read the notes [sim:tool]', { args: ['--tools', 'Read'] });
    assert.equal(r.code, 0, `exit ${r.code} ${r.signal}\nstdout:\n${r.stdout}\nstderr:\n${r.stderr}`);
    assert.match(r.stdout, /The tool returned:/);
  });

  test('stops at once with the budget message for a key over its cap', async () => {
    const r = await claude('Say hello', { key: BROKE_KEY, timeoutMs: 60_000, args: ['--tools', ''] });
    assert.notEqual(r.code, 0, `a broke key succeeded:\n${r.stdout}`);
    assert.match(r.stdout + r.stderr, /budget/i, `stdout:\n${r.stdout}\nstderr:\n${r.stderr}`);
    assert.ok(r.ms < 30_000, `took ${r.ms} ms: Claude Code retried the refusal`);
  });
});
