// Starts the real gateway binary for a test file, the way a user runs it,
// against its built-in Bedrock simulator.

import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { createInterface } from 'node:readline';

import { REPO_ROOT } from './openapi.mjs';

/** The API key the gateway accepts in -sim mode (published on purpose). */
export const DEMO_KEY = 'sk-tollgate-demo';

/** The binary: $TOLLGATE_BIN, else <repo>/bin/tollgate as `make build` writes it. */
export const GATEWAY_BIN = process.env.TOLLGATE_BIN || path.join(REPO_ROOT, 'bin', 'tollgate');

/**
 * startGateway runs `tollgate serve -sim -addr 127.0.0.1:0 -policies <empty
 * temp dir> ...args`, reads the port from its `"msg":"listening"` log line, waits
 * for GET /healthz to answer 200 and returns
 *   { baseURL: 'http://127.0.0.1:PORT/v1', origin, logs, stop }.
 * logs() returns the stderr lines so far. stop() sends SIGTERM, waits for the
 * process to exit and returns { code, signal }; it is safe to call twice.
 * startGateway throws, with the gateway's output, if the binary is missing,
 * exits early or is not ready within timeoutMs.
 */
export async function startGateway({ bin = GATEWAY_BIN, timeoutMs = 15_000, args = [] } = {}) {
  if (!existsSync(bin)) {
    throw new Error(`gateway binary ${bin} not found: run \`make build\` in ${REPO_ROOT} first (or set TOLLGATE_BIN)`);
  }
  const policies = mkdtempSync(path.join(tmpdir(), 'tollgate-policies-'));

  // Only flags configure this gateway: drop the environment variables it
  // falls back on (TOLLGATE_*, PORT, AWS_LWA_PORT) and any AWS credentials.
  const env = Object.fromEntries(Object.entries(process.env).filter(([k]) =>
    !k.startsWith('TOLLGATE_') && !k.startsWith('AWS_') && k !== 'PORT'));

  // Its own usage file, and no admin listener: test files run side by side.
  const store = `bolt://${path.join(policies, 'usage.db')}`;
  const child = spawn(bin, ['serve', '-sim', '-addr', '127.0.0.1:0', '-admin-addr', 'off', '-policies', policies, '-store', store, ...args], {
    env,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const lines = [];
  const logs = () => lines.join('\n');
  child.stdout.resume(); // never let a full pipe block the gateway

  const exited = new Promise((resolve) => {
    child.once('exit', (code, signal) => resolve({ code, signal }));
  });
  let exit;
  exited.then((e) => { exit = e; });
  const spawnError = new Promise((_, reject) => {
    child.once('error', (err) => reject(new Error(`cannot start ${bin}: ${err.message}`)));
  });
  spawnError.catch(() => {}); // observed through the race below

  const listening = new Promise((resolve, reject) => {
    createInterface({ input: child.stderr }).on('line', (line) => {
      lines.push(line);
      let rec;
      try {
        rec = JSON.parse(line);
      } catch {
        return; // not a JSON log line: keep it for logs() only
      }
      if (rec.msg === 'listening' && typeof rec.addr === 'string') resolve(rec.addr);
    });
    exited.then(({ code, signal }) =>
      reject(new Error(`gateway exited before listening (code ${code}, signal ${signal}):\n${logs()}`)));
  });

  const stop = async ({ timeoutMs: stopTimeout = 30_000 } = {}) => {
    if (!exit) {
      child.kill('SIGTERM');
      const timer = setTimeout(() => child.kill('SIGKILL'), stopTimeout);
      await exited;
      clearTimeout(timer);
    }
    rmSync(policies, { recursive: true, force: true });
    return exited;
  };

  const deadline = Date.now() + timeoutMs;
  try {
    const addr = await Promise.race([listening, spawnError, sleep(timeoutMs).then(() => {
      throw new Error(`gateway did not log "listening" within ${timeoutMs} ms:\n${logs()}`);
    })]);
    if (!/^127\.0\.0\.1:\d+$/.test(addr)) throw new Error(`gateway listens on ${addr}, want 127.0.0.1:PORT`);
    const origin = `http://${addr}`;
    await waitHealthy(`${origin}/healthz`, deadline, logs);
    return { baseURL: `${origin}/v1`, origin, logs, stop };
  } catch (err) {
    await stop({ timeoutMs: 5_000 });
    throw err;
  }
}

async function waitHealthy(url, deadline, logs) {
  let last = 'no answer';
  while (Date.now() < deadline) {
    try {
      const res = await fetch(url, { signal: AbortSignal.timeout(1_000) });
      await res.arrayBuffer();
      if (res.status === 200) return;
      last = `status ${res.status}`;
    } catch (err) {
      last = err.message;
    }
    await sleep(50);
  }
  throw new Error(`GET ${url} did not answer 200 in time (last: ${last}):\n${logs()}`);
}

const sleep = (ms) => new Promise((resolve) => { setTimeout(resolve, ms).unref(); });
