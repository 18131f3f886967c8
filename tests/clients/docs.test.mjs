// Runs every curl (sh) and JavaScript (js) example of README.md and
// docs/clients.md (the OpenAI SDK, the Vercel AI SDK, LangChain) against a
// gateway on its simulator, as a reader would
// paste it, so that a documented example can never rot. Go examples run in
// cmd/server/docs_test.go.

import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { readFileSync, rmSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';

import { startGateway } from './gateway.mjs';
import { REPO_ROOT } from './openapi.mjs';

const run = promisify(execFile);
const HERE = path.dirname(fileURLToPath(import.meta.url));
const EXAMPLES = path.join(REPO_ROOT, 'tests', 'examples');
const DOC_ORIGIN = 'http://127.0.0.1:8080';

/** codeBlocks returns the fenced blocks of a markdown file in a language. */
export function codeBlocks(file, lang) {
  const text = readFileSync(path.join(REPO_ROOT, file), 'utf8');
  const re = new RegExp('```' + lang + '\\n([\\s\\S]*?)```', 'g');
  return [...text.matchAll(re)].map((m, i) => ({ name: `${file} ${lang} #${i + 1}`, code: m[1] }));
}

// The README's sh blocks that talk to the gateway (others build or serve).
const shBlocks = [...codeBlocks('README.md', 'sh'), ...codeBlocks('docs/clients.md', 'sh')]
  .filter((b) => b.code.includes('curl ') && b.code.includes(DOC_ORIGIN));
const jsBlocks = [...codeBlocks('README.md', 'js'), ...codeBlocks('docs/clients.md', 'js')];

describe('documentation examples', () => {
  let gw;
  before(async () => { gw = await startGateway(); });
  after(async () => { await gw?.stop(); });

  test('there are examples to run', () => {
    assert.ok(shBlocks.length >= 3, `curl examples: ${shBlocks.length}`);
    assert.ok(jsBlocks.length >= 4, `JavaScript examples: ${jsBlocks.length}`);
  });

  for (const block of shBlocks) {
    test(block.name, async () => {
      const script = 'set -euo pipefail\n' + block.code.replaceAll(DOC_ORIGIN, gw.origin);
      const { stdout } = await run('bash', ['-c', script], { timeout: 30_000 });
      assert.ok(stdout.length > 0, 'no output');
      assert.doesNotMatch(stdout, /"error"/, stdout);
      assert.match(stdout, /simulated reply|"data"|"period"|\[DONE\]/, stdout);
    });
  }

  for (const block of jsBlocks) {
    test(block.name, async () => {
      // Written where its imports resolve: beside this file for the OpenAI
      // SDK, in tests/examples for the other libraries.
      const dir = /from '(ai|@ai-sdk\/|@langchain\/)/.test(block.code) ? EXAMPLES : HERE;
      const file = path.join(dir, `.doc-example-${process.pid}-${block.name.replace(/\W+/g, '_')}.mjs`);
      writeFileSync(file, block.code.replaceAll(DOC_ORIGIN, gw.origin));
      try {
        const { stdout } = await run(process.execPath, [file], { timeout: 30_000 });
        assert.match(stdout, /simulated|tool call|The tool returned/, stdout);
      } finally {
        rmSync(file, { force: true });
      }
    });
  }
});
