// Runs one OpenAI Agents SDK (@openai/agents, pinned in package-lock.json)
// agent with a function tool against the gateway's Responses API: the
// model calls the tool, the SDK runs it and sends its output back, and the
// agent answers.

import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';

import { Agent, OpenAIProvider, Runner, setTracingDisabled, tool } from '@openai/agents';

import { DEMO_KEY, startGateway } from './gateway.mjs';

const HAIKU = 'anthropic.claude-3-haiku-20240307-v1:0';

let gw;

before(async () => {
  gw = await startGateway();
  setTracingDisabled(true); // no traces to OpenAI
});

after(async () => {
  if (!gw) return;
  const { code, signal } = await gw.stop();
  assert.equal(code, 0, `gateway exit: code ${code}, signal ${signal}\n${gw.logs()}`);
});

test('an agent with a function tool', async () => {
  const calls = [];
  const getWeather = tool({
    name: 'get_weather',
    description: 'Get the current weather for a city.',
    parameters: {
      type: 'object',
      properties: { city: { type: 'string', description: 'City name' } },
      required: ['city'],
      additionalProperties: false,
    },
    strict: true,
    execute: async (args) => {
      calls.push(args);
      return 'sunny, 21 C';
    },
  });
  const agent = new Agent({
    name: 'Weather',
    instructions: 'Answer questions about the weather, using the tool.',
    model: HAIKU,
    tools: [getWeather],
  });
  const runner = new Runner({ modelProvider: new OpenAIProvider({ baseURL: gw.baseURL, apiKey: DEMO_KEY, useResponses: true }) });
  const result = await runner.run(agent, 'What is the weather in Paris? [sim:tool]', { maxTurns: 4 });
  assert.equal(calls.length, 1, `the tool ran once: ${JSON.stringify(calls)}`);
  assert.equal(typeof calls[0].city, 'string');
  assert.match(result.finalOutput, /sunny, 21 C/, 'the answer quotes the tool output');
  // The request log line is written once the response is sent.
  let reqs = [];
  for (let i = 0; i < 100 && reqs.length < 2; i++) {
    reqs = gw.logs().split('\n').filter((l) => l.includes('"path":"/v1/responses"')).map((l) => JSON.parse(l));
    await new Promise((r) => { setTimeout(r, 20); });
  }
  assert.equal(reqs.length, 2, JSON.stringify(reqs));
  assert.ok(reqs.every((r) => r.status === 200), JSON.stringify(reqs));
});
