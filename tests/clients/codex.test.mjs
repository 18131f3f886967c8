// Runs the Codex CLI (@openai/codex, pinned in package-lock.json) in
// `codex exec` mode against the gateway and its Bedrock simulator, the way a
// developer would point it at Tollgate: a model provider with
// wire_api = "responses", configured offline (no update check, no web
// search, no plugins, apps, analytics or shell snapshots), in a CODEX_HOME
// of its own, bounded by a timeout.

import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

import { DEMO_KEY, startGateway } from './gateway.mjs';

const CODEX = fileURLToPath(new URL('./node_modules/.bin/codex', import.meta.url));
const HAIKU = 'anthropic.claude-3-haiku-20240307-v1:0';
const SONNET = 'us.anthropic.claude-sonnet-4-5-20250929-v1:0';

/** A key whose monthly budget cannot afford one request. */
const BROKE_KEY = 'sk-tollgate-broke-0123456789';

let gw;
let home;
let work;

/** codexConfig is the config.toml of the README, pointed at baseURL. */
function codexConfig(baseURL) {
  return `model = "${HAIKU}"
model_provider = "tollgate"
check_for_update_on_startup = false
web_search = "disabled"
approval_policy = "never"
sandbox_mode = "read-only"

[model_providers.tollgate]
name = "Tollgate"
base_url = "${baseURL}"
env_key = "TOLLGATE_API_KEY"
wire_api = "responses"
request_max_retries = 0
stream_max_retries = 0

[analytics]
enabled = false

[features]
shell_snapshot = false
plugins = false
apps = false
`;
}

before(async () => {
  home = mkdtempSync(path.join(tmpdir(), 'tollgate-codex-'));
  const policies = path.join(home, 'policies');
  mkdirSync(policies);
  writeFileSync(path.join(policies, 'keys.yaml'), `keys:
  - id: broke
    sha256: "${createHash('sha256').update(BROKE_KEY).digest('hex')}"
    monthly_budget_usd: 0.000001
`);
  gw = await startGateway({ args: ['-policies', policies] }); // the last -policies wins
  work = path.join(home, 'work');
  mkdirSync(path.join(home, 'codex'));
  mkdirSync(work);
  writeFileSync(path.join(home, 'codex', 'config.toml'), codexConfig(gw.baseURL));
});

after(async () => {
  if (home) rmSync(home, { recursive: true, force: true });
  if (!gw) return;
  const { code, signal } = await gw.stop();
  assert.equal(code, 0, `gateway exit: code ${code}, signal ${signal}\n${gw.logs()}`);
});

/** codexExec runs `codex exec` with prompt and returns { code, stdout, stderr }. */
function codexExec(prompt, extra = [], { timeoutMs = 90_000, key = DEMO_KEY } = {}) {
  const env = Object.fromEntries(Object.entries(process.env).filter(([k]) => !k.startsWith('OPENAI_') && !k.startsWith('CODEX_')));
  Object.assign(env, { CODEX_HOME: path.join(home, 'codex'), TOLLGATE_API_KEY: key, NO_COLOR: '1' });
  return new Promise((resolve, reject) => {
    const child = spawn(CODEX, ['exec', '--skip-git-repo-check', '-C', work, ...extra, prompt], { env, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (b) => { stdout += b; });
    child.stderr.on('data', (b) => { stderr += b; });
    const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
    child.once('error', reject);
    child.once('exit', (code, signal) => {
      clearTimeout(timer);
      resolve({ code, signal, stdout, stderr });
    });
  });
}

/**
 * settled waits until the gateway's request log stops growing: a line is
 * written once its response is sent, maybe after codex exited.
 */
async function settled() {
  let n = -1;
  for (let i = 0; i < 100; i++) {
    const m = requests().length;
    if (m === n) return;
    n = m;
    await new Promise((r) => { setTimeout(r, 50); });
  }
}

/** requests returns the gateway's request log lines for /v1/responses. */
function requests() {
  return gw.logs().split('\n').filter((l) => l.includes('"msg":"request"'))
    .map((l) => JSON.parse(l)).filter((r) => r.path === '/v1/responses');
}

describe('codex exec', () => {
  test('a plain answer', async () => {
    const before = requests().length;
    const r = await codexExec('Say hello');
    assert.equal(r.code, 0, `codex exit ${r.code} ${r.signal}\nstdout:\n${r.stdout}\nstderr:\n${r.stderr}`);
    assert.match(r.stdout, /simulated reply from Claude 3 Haiku/);
    await settled();
    const reqs = requests().slice(before);
    assert.equal(reqs.length, 1, JSON.stringify(reqs));
    assert.equal(reqs[0].status, 200);
    assert.equal(reqs[0].stream, true);
    assert.ok(reqs[0].input_tokens > 0 && reqs[0].output_tokens > 0 && reqs[0].cost_micros > 0, JSON.stringify(reqs[0]));
  });

  test('a tool call, run by Codex, its output sent back', async () => {
    const before = requests().length;
    const r = await codexExec('List the files here [sim:tool]');
    assert.equal(r.code, 0, `codex exit ${r.code} ${r.signal}\nstdout:\n${r.stdout}\nstderr:\n${r.stderr}`);
    assert.match(r.stdout + r.stderr, /The tool returned/);
    await settled();
    const reqs = requests().slice(before);
    assert.ok(reqs.length >= 2, `two turns at least: ${JSON.stringify(reqs)}`);
    assert.ok(reqs.every((q) => q.status === 200), JSON.stringify(reqs));
  });

  test('with Claude thinking: the signed reasoning survives the tool round trip', async () => {
    const before = requests().length;
    const r = await codexExec('List the files here [sim:tool]',
      ['-c', `model="${SONNET}"`, '-c', 'model_reasoning_effort="low"', '-c', 'model_reasoning_summary="auto"']);
    assert.equal(r.code, 0, `codex exit ${r.code} ${r.signal}\nstdout:\n${r.stdout}\nstderr:\n${r.stderr}`);
    assert.match(r.stdout + r.stderr, /The tool returned/);
    await settled();
    const reqs = requests().slice(before);
    assert.ok(reqs.length >= 2 && reqs.every((q) => q.status === 200 && q.model === SONNET), JSON.stringify(reqs));
  });

  test('a Bedrock error reaches Codex as a failed turn, not a hang', async () => {
    const r = await codexExec('Hi [sim:error=ValidationException]');
    assert.notEqual(r.code, 0, `codex should fail\nstdout:\n${r.stdout}\nstderr:\n${r.stderr}`);
    await settled();
    assert.ok(requests().some((q) => q.status === 400), 'the gateway answered 400');
  });

  test('a budget refusal: Codex shows "Quota exceeded" and does not retry', async () => {
    const before = requests().length;
    const r = await codexExec('Say hello', [], { key: BROKE_KEY });
    assert.notEqual(r.code, 0, `codex should fail\nstdout:\n${r.stdout}\nstderr:\n${r.stderr}`);
    assert.match(r.stdout + r.stderr, /quota exceeded/i);
    await settled();
    const reqs = requests().slice(before);
    assert.equal(reqs.length, 1, `one request, no retry: ${JSON.stringify(reqs)}`);
    assert.equal(reqs[0].status, 429);
  });

  test('web search left on: the 400 names the tool and says how to turn it off', async () => {
    const r = await codexExec('Say hello', ['-c', 'web_search="live"']);
    assert.match(r.stdout + r.stderr, /web_search = \\?"disabled\\?"/, `stdout:\n${r.stdout}\nstderr:\n${r.stderr}`);
    await settled();
    assert.equal(requests().at(-1).status, 400);
  });
});
