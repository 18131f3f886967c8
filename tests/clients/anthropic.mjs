// Shared by the Anthropic client tests: the model they ask for, a policy
// with a key whose budget is spent, and a runner of the real Claude Code.

import { spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, mkdtempSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import path from 'node:path';

const require = createRequire(import.meta.url);

/** The model the tests ask for, by Anthropic's name. */
export const SONNET = 'claude-sonnet-4-5-20250929';

/** The secret of the key whose monthly budget is 0. */
export const BROKE_KEY = 'sk-tollgate-broke-test';

/**
 * brokePolicy writes a policy directory with the key "broke" (BROKE_KEY,
 * monthly budget 0; -sim adds the demo key) and returns its path.
 */
export function brokePolicy() {
  const dir = mkdtempSync(path.join(tmpdir(), 'tollgate-anthropic-policy-'));
  const sha = createHash('sha256').update(BROKE_KEY).digest('hex');
  writeFileSync(path.join(dir, 'policy.yaml'), `keys:\n  - id: broke\n    sha256: "${sha}"\n    monthly_budget_usd: 0\n`);
  return dir;
}

/** claudeBinary finds the native binary the package installs for this platform. */
function claudeBinary() {
  const pkg = `@anthropic-ai/claude-code-${process.platform}-${process.arch}`;
  const bin = path.join(path.dirname(require.resolve(`${pkg}/package.json`)), 'claude');
  if (!existsSync(bin)) throw new Error(`${bin} not found: run npm ci in tests/clients`);
  return bin;
}

/**
 * runClaude runs the real Claude Code (the pinned package's native binary)
 * with args and exactly env, in cwd, and returns { code, signal, stdout,
 * stderr, ms }; it is killed after timeoutMs.
 */
export function runClaude(args, { env, cwd, timeoutMs = 60_000 }) {
  const started = Date.now();
  return new Promise((resolve, reject) => {
    const child = spawn(claudeBinary(), args, { env, cwd, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (b) => { stdout += b; });
    child.stderr.on('data', (b) => { stderr += b; });
    const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
    child.once('error', reject);
    child.once('exit', (code, signal) => {
      clearTimeout(timer);
      resolve({ code, signal, stdout, stderr, ms: Date.now() - started });
    });
  });
}
