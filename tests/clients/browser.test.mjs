// A real browser calls the gateway across origins: headless Chromium loads
// a page from another origin (a file server on another port) that imports
// the official OpenAI JavaScript SDK, unbundled, as ES modules, and calls
// the gateway (-cors-origins, on its simulator) plain and streamed; the page
// writes what it got into the DOM, which the test reads. A page from an
// origin the gateway does not list is blocked by the browser.
//
// Chromium is Debian's package (.ci/run installs it); the test is skipped
// only when no Chromium can be found ($CHROMIUM_PATH, then the usual paths).

import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readFileSync } from 'node:fs';
import { createServer } from 'node:http';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

import OpenAI from 'openai';
import { chromium } from 'playwright-core';

import { DEMO_KEY, startGateway } from './gateway.mjs';

const HAIKU = 'anthropic.claude-3-haiku-20240307-v1:0';
const PROMPT = 'Say hello from a browser.';

const CHROMIUM = [process.env.CHROMIUM_PATH, '/usr/bin/chromium', '/usr/bin/chromium-browser', '/usr/bin/google-chrome']
  .find((p) => p && existsSync(p));

const OPENAI_DIR = path.dirname(fileURLToPath(import.meta.resolve('openai')));

// The page: the SDK from this page's own server, through an import map;
// the gateway's URL and the key in the query string. It runs a plain chat,
// a streamed one, and one with a wrong key (an error the SDK must be able
// to read), and writes {plain, requestID, streamed, authError} or {error}
// into #result.
const PAGE = `<!doctype html>
<html><head><meta charset="utf-8"><title>Tollgate from a browser</title>
<script type="importmap">{"imports": {"openai": "/openai/index.mjs"}}</script>
</head><body><pre id="result" data-done="0">pending</pre>
<script type="module">
const out = {};
try {
  const { default: OpenAI } = await import('openai');
  const q = new URLSearchParams(location.search);
  const client = new OpenAI({ baseURL: q.get('base'), apiKey: q.get('key'), dangerouslyAllowBrowser: true, maxRetries: 0, timeout: 15000 });
  const params = { model: ${JSON.stringify(HAIKU)}, messages: [{ role: 'user', content: ${JSON.stringify(PROMPT)} }] };
  const { data, response } = await client.chat.completions.create(params).withResponse();
  out.plain = data.choices[0].message.content;
  out.requestID = response.headers.get('x-request-id');
  const stream = await client.chat.completions.create({ ...params, stream: true });
  out.streamed = '';
  for await (const chunk of stream) out.streamed += chunk.choices[0]?.delta?.content ?? '';
  try {
    await new OpenAI({ baseURL: q.get('base'), apiKey: 'sk-wrong', dangerouslyAllowBrowser: true, maxRetries: 0 }).models.list();
  } catch (err) {
    out.authError = { name: err.constructor.name, status: err.status, code: err.code, requestID: err.requestID };
  }
} catch (err) {
  out.error = { name: err.constructor.name, message: String(err.message), status: err.status };
}
const el = document.getElementById('result');
el.textContent = JSON.stringify(out);
el.dataset.done = '1';
</script></body></html>`;

/** servePage serves PAGE at / and the SDK's files under /openai/ on 127.0.0.1. */
async function servePage() {
  const server = createServer((req, res) => {
    const url = new URL(req.url, 'http://page');
    if (url.pathname === '/') {
      res.writeHead(200, { 'content-type': 'text/html; charset=utf-8' });
      res.end(PAGE);
      return;
    }
    if (url.pathname.startsWith('/openai/')) {
      const file = path.join(OPENAI_DIR, path.normalize(url.pathname.slice('/openai/'.length)));
      if (file.startsWith(OPENAI_DIR + path.sep) && /\.m?js$/.test(file) && existsSync(file)) {
        res.writeHead(200, { 'content-type': 'text/javascript; charset=utf-8' });
        res.end(readFileSync(file));
        return;
      }
    }
    res.writeHead(404).end();
  });
  await new Promise((resolve) => server.listen(0, '127.0.0.1', resolve));
  return { origin: `http://127.0.0.1:${server.address().port}`, close: () => new Promise((r) => server.close(r)) };
}

describe('a browser page on another origin', { skip: CHROMIUM ? false : 'no Chromium found (install Debian\'s chromium, or set CHROMIUM_PATH)' }, () => {
  let gw;
  let allowedPage;
  let deniedPage;
  let browser;
  let expected; // what the SDK gets from the gateway in Node

  before(async () => {
    allowedPage = await servePage();
    deniedPage = await servePage();
    // The allowed page's exact origin, and a glob that matches neither.
    gw = await startGateway({ args: ['-cors-origins', `https://*.example.com,${allowedPage.origin}`] });
    browser = await chromium.launch({ executablePath: CHROMIUM, headless: true });

    const client = new OpenAI({ baseURL: gw.baseURL, apiKey: DEMO_KEY, maxRetries: 0 });
    const params = { model: HAIKU, messages: [{ role: 'user', content: PROMPT }] };
    const plain = await client.chat.completions.create(params);
    let streamed = '';
    for await (const chunk of await client.chat.completions.create({ ...params, stream: true })) {
      streamed += chunk.choices[0]?.delta?.content ?? '';
    }
    expected = { plain: plain.choices[0].message.content, streamed };
    assert.ok(expected.plain.length > 0 && expected.streamed.length > 0, 'the simulator answers');
  });

  after(async () => {
    await browser?.close();
    await allowedPage?.close();
    await deniedPage?.close();
    if (!gw) return;
    const { code, signal } = await gw.stop();
    assert.equal(code, 0, `gateway exit: code ${code}, signal ${signal}\n${gw.logs()}`);
  });

  /** requestLines returns the gateway's request log lines so far. */
  function requestLines() {
    return gw.logs().split('\n').flatMap((l) => {
      try {
        const r = JSON.parse(l);
        return r.msg === 'request' ? [r] : [];
      } catch {
        return [];
      }
    });
  }

  /** open loads page in a fresh browser context and returns what it reports and the console's lines. */
  async function open(page) {
    const context = await browser.newContext();
    try {
      const tab = await context.newPage();
      const console = [];
      tab.on('console', (m) => console.push(m.text()));
      const url = `${page.origin}/?${new URLSearchParams({ base: gw.baseURL, key: DEMO_KEY })}`;
      await tab.goto(url);
      await tab.waitForFunction(() => document.getElementById('result').dataset.done === '1', null, { timeout: 30_000 });
      const result = JSON.parse(await tab.textContent('#result'));
      return { result, console };
    } finally {
      await context.close();
    }
  }

  test('an allowed origin: the OpenAI SDK chats plain and streamed, and reads headers and errors', async () => {
    const { result, console } = await open(allowedPage);
    assert.equal(result.error, undefined, `the page failed: ${JSON.stringify(result.error)}\nconsole: ${console.join('\n')}`);
    assert.equal(result.plain, expected.plain, 'the plain answer, as in Node');
    assert.equal(result.streamed, expected.streamed, 'the streamed answer, as in Node');
    assert.match(result.requestID ?? '', /^req_[0-9a-f]{24}$/, 'x-request-id is exposed to the page');
    // An error response carries the CORS headers too: the SDK sees the
    // status and the body's code, not a network failure.
    assert.deepEqual(result.authError?.name, 'AuthenticationError', JSON.stringify(result.authError));
    assert.equal(result.authError.status, 401);
    assert.equal(result.authError.code, 'invalid_api_key');
    assert.match(result.authError.requestID ?? '', /^req_/);
    // The SDK's headers (authorization, x-stainless-*) made each call
    // preflighted, and the gateway answered the preflights itself.
    assert.ok(requestLines().some((r) => r.method === 'OPTIONS' && r.status === 204), `no preflight answered 204:\n${gw.logs()}`);
  });

  test('an origin not allowed: the browser blocks the call', async () => {
    const { result, console } = await open(deniedPage);
    assert.equal(result.plain, undefined, 'the page read an answer');
    assert.equal(result.error?.name, 'APIConnectionError', JSON.stringify(result));
    assert.ok(console.some((l) => l.includes('blocked by CORS policy')),
      `no CORS error on the console:\n${console.join('\n')}`);
    assert.ok(requestLines().some((r) => r.method === 'OPTIONS' && r.status === 403 && r.error_code === 'cors_origin_not_allowed'),
      `no preflight refused:\n${gw.logs()}`);
  });
});
