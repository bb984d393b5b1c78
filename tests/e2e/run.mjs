// tests/e2e/run.mjs - the official client SDKs and CLIs against llmproxy and
// the C mock upstream (run from the repo root by `make e2e`).
//
//   LLMPROXY_BIN=build/llmproxy MOCK_BIN=build/mock_upstream node tests/e2e/run.mjs
//
// Every test runs by default: the 4x4 matrix (openai chat, openai
// responses, anthropic and genai clients x openai, openai-responses,
// anthropic and gemini upstreams; heartbeats on quiet streams included), then Claude Code, Codex and Gemini CLI
// against each upstream kind, and the SDKs and Claude Code through a fallback
// chain whose first provider answers 429, and the openai SDK, Claude Code and
// Codex through a second proxy whose providers are subscription accounts
// (claude-account, codex-account) logged in against build/mock_oauth.
//
// Environment:
//   E2E_FILTER=str   run only tests whose name contains str
//   E2E_VERBOSE=1    print the proxy's stderr slice for passing tests too
//   E2E_DEBUG=1      print got/expected values
//   E2E_NO_CLI=1     skip the CLI tests (Claude Code, Codex, Gemini CLI)
//   OAUTH_BIN=path   the mock authorization server (default: mock_oauth next
//                    to MOCK_BIN)
//
// Expectations come from the mock itself: for each case the same scenario
// is first requested from the mock directly, in the upstream's own format,
// and reduced to {text, thinking, tools, stop}; the client's answer through
// the proxy must reduce to the same values. The scenarios that check the
// request ("structured", "roundtrip", "echo") have fixed, documented answers.
//
// test(name, group, fn): the group is only a label in the summary; every
// registered test runs. Name tests "client -> upstream: what" to land in the
// row "client -> upstream".
//
// The summary is a table of rows (client -> upstream, or CLI -> upstream)
// with passed/total; the final line is "N passed, N failed". Exit status 1
// when any test fails.

import { spawn } from 'node:child_process';
import { once } from 'node:events';
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import assert from 'node:assert/strict';
import { fileURLToPath } from 'node:url';

import OpenAI from 'openai';
import Anthropic from '@anthropic-ai/sdk';
import { jsonSchemaOutputFormat } from '@anthropic-ai/sdk/helpers/json-schema';
import { GoogleGenAI } from '@google/genai';

import { adminTests } from './admin.mjs';

const HERE = path.dirname(fileURLToPath(import.meta.url));
const ROOT = path.resolve(HERE, '..', '..');

const LLMPROXY_BIN = path.resolve(process.env.LLMPROXY_BIN || path.join(ROOT, 'build/llmproxy'));
const MOCK_BIN = path.resolve(process.env.MOCK_BIN || path.join(ROOT, 'build/mock_upstream'));
const FIXTURES = path.join(ROOT, 'tests/fixtures');
const FILTER = process.env.E2E_FILTER || '';
const VERBOSE = process.env.E2E_VERBOSE === '1';
const NO_CLI = process.env.E2E_NO_CLI === '1';

const CLIENT_KEY = 'sk-e2e-client-0123456789';
const ADMIN_KEY = 'e2e-admin-0123456789';
const TEST_TIMEOUT_MS = 30000;
const CLI_TIMEOUT_MS = 180000;

// ------------------------------------------------------------ processes

let mockProc, proxyProc, MOCK_PORT, PROXY_PORT, PROXY_URL, MOCK_URL;
let proxyLog = '';
let mockLog = '';
const tmpRoot = fs.mkdtempSync(path.join(os.tmpdir(), 'llmproxy-e2e-'));

function freePort() {
  return new Promise((resolve, reject) => {
    const s = net.createServer();
    s.on('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const { port } = s.address();
      s.close(() => resolve(port));
    });
  });
}

async function startMock() {
  if (!fs.existsSync(MOCK_BIN)) throw new Error(`MOCK_BIN not found: ${MOCK_BIN}`);
  mockProc = spawn(MOCK_BIN, ['-l', '127.0.0.1:0', '--fixtures', FIXTURES], {
    cwd: ROOT, stdio: ['ignore', 'pipe', 'pipe'],
  });
  mockProc.stderr.on('data', (d) => { mockLog += d; });
  let out = '';
  MOCK_PORT = await new Promise((resolve, reject) => {
    const t = setTimeout(() => reject(new Error(`mock did not print "listening PORT": ${out}${mockLog}`)), 10000);
    mockProc.stdout.on('data', (d) => {
      out += d;
      const m = out.match(/listening (\d+)/);
      if (m) { clearTimeout(t); resolve(Number(m[1])); }
    });
    mockProc.on('exit', (code) => { clearTimeout(t); reject(new Error(`mock exited ${code}: ${mockLog}`)); });
  });
  mockProc.stdout.resume();
  MOCK_URL = `http://127.0.0.1:${MOCK_PORT}`;
}

// The real Claude Code CLI as an exec provider: the proxy runs it per
// request (stream-json in and out), and it talks to the mock's Anthropic
// endpoint itself (ANTHROPIC_BASE_URL), from a temp HOME and directory.
const CLAUDE_BIN = path.join(HERE, 'node_modules/.bin/claude');
function claudeExecProvider() {
  const home = fs.mkdtempSync(path.join(tmpRoot, 'claude-exec-home-'));
  const work = fs.mkdtempSync(path.join(tmpRoot, 'claude-exec-work-'));
  return {
    name: 'claude-cli', type: 'exec',
    command: [CLAUDE_BIN, '-p', '--input-format', 'stream-json', '--output-format', 'stream-json',
      '--verbose', '--include-partial-messages', '--model', '{model}'],
    cwd: work,
    env: {
      PATH: process.env.PATH || '/usr/bin:/bin',
      HOME: home,
      XDG_CONFIG_HOME: path.join(home, '.config'),
      ANTHROPIC_BASE_URL: MOCK_URL,
      ANTHROPIC_API_KEY: 'sk-upstream-claude-cli',
      CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC: '1',
      DISABLE_AUTOUPDATER: '1',
      DISABLE_TELEMETRY: '1',
      DISABLE_ERROR_REPORTING: '1',
      NO_PROXY: '127.0.0.1,localhost',
      CI: '1',
    },
    max_parallel: 2,
    timeout_ms: CLI_TIMEOUT_MS - 10000,
  };
}

function proxyConfig() {
  const m = MOCK_URL;
  return {
    listen: `127.0.0.1:${PROXY_PORT}`,
    api_keys: [CLIENT_KEY],
    // heartbeats on quiet streams, often enough for a paced mock stream
    // (pause=N) to get some; "slow" streams (200 ms apart) get none
    timeouts: { heartbeat_ms: 300 },
    cache: { routes: ['cache-*'] },
    admin_key: ADMIN_KEY,
    // the admin page test's model has a price: $1/$2 per million tokens
    prices: { 'oai-admin-*': { input: 1, output: 2 } },
    providers: [
      { name: 'oai', type: 'openai', base_url: `${m}/v1`, api_key: 'sk-upstream-oai' },
      { name: 'ant', type: 'anthropic', base_url: m, api_key: 'sk-upstream-ant' },
      { name: 'gem', type: 'gemini', base_url: `${m}/v1beta`, api_key: 'upstream-gem' },
      { name: 'rsp', type: 'openai-responses', base_url: `${m}/v1`, api_key: 'sk-upstream-rsp' },
      // the first of the chain-* fallback chain: the mock answers 429 to
      // this key when the model name says k429=r429key
      { name: 'r429', type: 'anthropic', base_url: m, api_key: 'r429key' },
      claudeExecProvider(),
    ],
    models: {
      // exec: Claude Code asks the mock's Anthropic "text" scenario
      'exec-*': 'claude-cli/ant-text',
      'oai-*': 'oai',
      'ant-*': 'ant',
      'gem-*': 'gem',
      'rsp-*': 'rsp',
      'chain-*': ['r429', 'oai'],
      // the response cache's route
      'cache-*': 'oai',
      // Claude Code picks its own model names for background work (a haiku
      // model for titles/summaries); send everything else to the Chat mock.
      'claude-*': 'oai',
      '*': 'oai',
    },
  };
}

async function startProxy() {
  if (!fs.existsSync(LLMPROXY_BIN)) throw new Error(`LLMPROXY_BIN not found: ${LLMPROXY_BIN}`);
  PROXY_PORT = await freePort();
  PROXY_URL = `http://127.0.0.1:${PROXY_PORT}`;
  const cfgPath = path.join(tmpRoot, 'llmproxy.json');
  fs.writeFileSync(cfgPath, JSON.stringify(proxyConfig(), null, 2));
  proxyProc = spawn(LLMPROXY_BIN, ['-c', cfgPath, '-l', `127.0.0.1:${PROXY_PORT}`], {
    cwd: ROOT, stdio: ['ignore', 'pipe', 'pipe'],
    // the proxy's state (keys, usage records) in the run's temp dir
    env: { ...process.env, LLMPROXY_STATE_DIR: path.join(tmpRoot, 'state') },
  });
  proxyProc.stderr.on('data', (d) => { proxyLog += d; });
  proxyProc.stdout.on('data', (d) => { proxyLog += d; });
  let exited = null;
  proxyProc.on('exit', (code, sig) => { exited = `${code ?? sig}`; });
  const deadline = Date.now() + 10000;
  for (;;) {
    if (exited !== null) throw new Error(`proxy exited (${exited}) at startup:\n${proxyLog}`);
    try {
      await new Promise((resolve, reject) => {
        const s = net.connect(PROXY_PORT, '127.0.0.1', () => { s.end(); resolve(); });
        s.on('error', reject);
      });
      return;
    } catch {
      if (Date.now() > deadline) throw new Error(`proxy not listening on ${PROXY_PORT}:\n${proxyLog}`);
      await sleep(50);
    }
  }
}

function sleep(ms) { return new Promise((r) => setTimeout(r, ms)); }

async function stopAll() {
  for (const p of [proxyProc, acctProxyProc, oauthProc, mockProc]) {
    if (p && p.exitCode === null && p.signalCode === null) {
      p.kill('SIGTERM');
      const t = setTimeout(() => p.kill('SIGKILL'), 3000);
      await once(p, 'exit').catch(() => {});
      clearTimeout(t);
    }
  }
}

// ------------------------------------------------------------ wire readers
// Reduce one upstream answer (as the mock sends it) to
// {text, thinking, tools: [{name, args}], stop}.

function sseEvents(raw) {
  const out = [];
  for (const block of raw.replace(/\r\n/g, '\n').split('\n\n')) {
    let ev = null; const data = [];
    for (const line of block.split('\n')) {
      if (line.startsWith('event:')) ev = line.slice(6).trim();
      else if (line.startsWith('data:')) data.push(line.slice(5).replace(/^ /, ''));
    }
    if (data.length) out.push({ event: ev, data: data.join('\n') });
  }
  return out;
}

function parseArgs(s) {
  if (s === undefined || s === null || s === '') return {};
  if (typeof s === 'object') return s;
  return JSON.parse(s);
}

const stopAnth = { end_turn: 'stop', stop_sequence: 'stop', tool_use: 'tool_calls', max_tokens: 'length', refusal: 'content_filter', pause_turn: 'stop' };
function stopGem(fr, tools) {
  if (fr === 'MAX_TOKENS') return 'length';
  if (fr === 'SAFETY' || fr === 'RECITATION' || fr === 'PROHIBITED_CONTENT' || fr === 'BLOCKLIST') return 'content_filter';
  if (fr === 'STOP' || fr === undefined || fr === null) return tools.length ? 'tool_calls' : 'stop';
  return fr;
}
function stopRsp(r, tools) {
  if (r.status === 'incomplete') return r.incomplete_details?.reason === 'content_filter' ? 'content_filter' : 'length';
  if (r.status === 'completed') return tools.length ? 'tool_calls' : 'stop';
  return r.status;
}

function readChatJSON(j) {
  const m = j.choices[0].message;
  const tools = (m.tool_calls || []).map((t) => ({ name: t.function.name, args: parseArgs(t.function.arguments), id: t.id }));
  return { text: m.content || '', thinking: m.reasoning_content || m.reasoning || '', tools, stop: j.choices[0].finish_reason };
}
function readChatSSE(raw) {
  let text = '', thinking = '', stop = null; const tc = [];
  for (const e of sseEvents(raw)) {
    if (e.data === '[DONE]') break;
    const j = JSON.parse(e.data);
    for (const c of j.choices || []) {
      const d = c.delta || {};
      if (d.content) text += d.content;
      if (d.reasoning_content) thinking += d.reasoning_content;
      else if (d.reasoning) thinking += d.reasoning;
      for (const t of d.tool_calls || []) {
        tc[t.index] ??= { name: '', args: '' };
        if (t.function?.name) tc[t.index].name = t.function.name;
        if (t.function?.arguments) tc[t.index].args += t.function.arguments;
      }
      if (c.finish_reason) stop = c.finish_reason;
    }
  }
  return { text, thinking, tools: tc.map((t) => ({ name: t.name, args: parseArgs(t.args) })), stop };
}
function readAnthJSON(j) {
  let text = '', thinking = ''; const tools = [];
  for (const b of j.content) {
    if (b.type === 'text') text += b.text;
    else if (b.type === 'thinking') thinking += b.thinking;
    else if (b.type === 'tool_use') tools.push({ name: b.name, args: b.input, id: b.id });
  }
  return { text, thinking, tools, stop: stopAnth[j.stop_reason] ?? j.stop_reason };
}
function readAnthSSE(raw) {
  const blocks = []; let stop = null;
  for (const e of sseEvents(raw)) {
    const j = JSON.parse(e.data);
    if (j.type === 'content_block_start') blocks[j.index] = { ...j.content_block, _json: '' };
    else if (j.type === 'content_block_delta') {
      const b = blocks[j.index]; const d = j.delta;
      if (d.type === 'text_delta') b.text += d.text;
      else if (d.type === 'thinking_delta') b.thinking += d.thinking;
      else if (d.type === 'input_json_delta') b._json += d.partial_json;
    } else if (j.type === 'message_delta' && j.delta?.stop_reason) stop = j.delta.stop_reason;
  }
  for (const b of blocks) if (b && b.type === 'tool_use') b.input = parseArgs(b._json || b.input);
  return readAnthJSON({ content: blocks.filter(Boolean), stop_reason: stop });
}
function readGemParts(parts, acc) {
  for (const p of parts || []) {
    if (p.functionCall) acc.tools.push({ name: p.functionCall.name, args: p.functionCall.args || {} });
    else if (typeof p.text === 'string') {
      if (p.thought) acc.thinking += p.text; else acc.text += p.text;
    }
  }
}
function readGemJSON(j) {
  const acc = { text: '', thinking: '', tools: [] };
  const c = j.candidates?.[0];
  readGemParts(c?.content?.parts, acc);
  return { ...acc, stop: stopGem(c?.finishReason, acc.tools) };
}
function readGemSSE(raw) {
  const acc = { text: '', thinking: '', tools: [] }; let fr;
  for (const e of sseEvents(raw)) {
    const j = JSON.parse(e.data);
    const c = j.candidates?.[0];
    readGemParts(c?.content?.parts, acc);
    if (c?.finishReason) fr = c.finishReason;
  }
  return { ...acc, stop: stopGem(fr, acc.tools) };
}
function readRspJSON(r) {
  let text = '', thinking = ''; const tools = [];
  for (const it of r.output || []) {
    if (it.type === 'message') {
      for (const c of it.content || []) if (c.type === 'output_text') text += c.text;
    } else if (it.type === 'reasoning') {
      for (const s of it.summary || []) thinking += s.text;
      if (!it.summary?.length) for (const c of it.content || []) if (c.type === 'reasoning_text') thinking += c.text;
    } else if (it.type === 'function_call') {
      tools.push({ name: it.name, args: parseArgs(it.arguments), id: it.call_id });
    }
  }
  return { text, thinking, tools, stop: stopRsp(r, tools) };
}
function readRspSSE(raw) {
  let final = null;
  for (const e of sseEvents(raw)) {
    if (e.data === '[DONE]') continue;
    const j = JSON.parse(e.data);
    if (j.type === 'response.completed' || j.type === 'response.incomplete') final = j.response;
  }
  assert.ok(final, 'mock Responses stream without terminal event');
  return readRspJSON(final);
}

// ------------------------------------------------------------ the mock, directly

const UP = {
  oai: { fmt: 'chat', label: 'openai-chat' },
  ant: { fmt: 'anthropic', label: 'anthropic' },
  gem: { fmt: 'gemini', label: 'gemini' },
  rsp: { fmt: 'responses', label: 'openai-responses' },
};

const expectCache = new Map();
async function expected(up, scenario, stream) {
  const key = `${up}|${scenario}|${stream}`;
  if (expectCache.has(key)) return expectCache.get(key);
  const model = `${up}-${scenario}`;
  const msg = [{ role: 'user', content: 'hi' }];
  let url, body;
  switch (up) {
    case 'oai': url = '/v1/chat/completions'; body = { model, messages: msg, stream }; break;
    case 'rsp': url = '/v1/responses'; body = { model, input: 'hi', stream }; break;
    case 'ant': url = '/v1/messages'; body = { model, max_tokens: 1024, messages: msg, stream }; break;
    case 'gem': url = `/v1beta/models/${model}:${stream ? 'streamGenerateContent?alt=sse' : 'generateContent'}`;
      body = { contents: [{ role: 'user', parts: [{ text: 'hi' }] }] }; break;
  }
  const res = await fetch(MOCK_URL + url, {
    method: 'POST', headers: { 'content-type': 'application/json', 'anthropic-version': '2023-06-01' },
    body: JSON.stringify(body),
  });
  const raw = await res.text();
  assert.equal(res.status, 200, `mock ${url} ${model}: ${raw}`);
  let r;
  if (stream) r = { oai: readChatSSE, ant: readAnthSSE, gem: readGemSSE, rsp: readRspSSE }[up](raw);
  else r = { oai: readChatJSON, ant: readAnthJSON, gem: readGemJSON, rsp: readRspJSON }[up](JSON.parse(raw));
  for (const t of r.tools) delete t.id;
  expectCache.set(key, r);
  return r;
}

// ------------------------------------------------------------ clients

const TOOL_NAMES = ['get_weather', 'GetWeatherArgs', 'get_stock_price', 'concatStringFunction'];
const TOOL_SCHEMA = {
  type: 'object',
  properties: {
    location: { type: 'string' }, city: { type: 'string' }, country: { type: 'string' },
    units: { type: 'string' }, unit: { type: 'string' }, ticker: { type: 'string' },
    exchange: { type: 'string' }, firstString: { type: 'string' }, secondString: { type: 'string' },
  },
};
const PROMPT = 'What is the weather in San Francisco?';

// Structured output: the mock's "structured" scenario answers this object
// (as JSON text) only when the upstream request carries a schema with these
// properties in the upstream's own place, and 400s otherwise.
const STRUCT_SCHEMA = {
  type: 'object',
  properties: { city: { type: 'string' }, temperature_c: { type: 'integer' } },
  required: ['city', 'temperature_c'],
  additionalProperties: false,
};
const STRUCT_ANSWER = { city: 'Paris', temperature_c: 21 };
const STRUCT_PROMPT = 'Weather in Paris, as JSON.';

function openai() {
  return new OpenAI({ apiKey: CLIENT_KEY, baseURL: `${PROXY_URL}/v1`, maxRetries: 0, timeout: 20000 });
}
function anthropic() {
  return new Anthropic({ apiKey: CLIENT_KEY, baseURL: PROXY_URL, maxRetries: 0, timeout: 20000 });
}
// @google/genai 3.x defaults to apiVersion "v1" (/v1/models/M:generateContent);
// the matrix pins v1beta, and a separate test checks the default.
function genai(apiVersion = 'v1beta') {
  const httpOptions = { baseUrl: PROXY_URL, timeout: 20000 };
  if (apiVersion) httpOptions.apiVersion = apiVersion;
  return new GoogleGenAI({ apiKey: CLIENT_KEY, httpOptions });
}

const chatTools = TOOL_NAMES.map((name) => ({ type: 'function', function: { name, description: `tool ${name}`, parameters: TOOL_SCHEMA } }));
const rspTools = TOOL_NAMES.map((name) => ({ type: 'function', name, description: `tool ${name}`, parameters: TOOL_SCHEMA }));
const antTools = TOOL_NAMES.map((name) => ({ name, description: `tool ${name}`, input_schema: TOOL_SCHEMA }));
const gemTools = [{ functionDeclarations: TOOL_NAMES.map((name) => ({ name, description: `tool ${name}`, parametersJsonSchema: TOOL_SCHEMA })) }];

// Each client: run(model, {stream, tools, thinking}) -> {norm, raw};
// turn2(first, model, results) -> normalized answer of a tool-result turn.
const CLIENTS = {
  chat: {
    label: 'openai SDK chat.completions',
    async run(model, o) {
      const c = openai();
      const params = { model, messages: [{ role: 'user', content: PROMPT }] };
      if (o.tools) params.tools = chatTools;
      if (o.thinking) params.reasoning_effort = 'low';
      let comp, streamedReasoning = '';
      if (o.stream) {
        const s = c.chat.completions.stream(params);
        s.on('chunk', (ch) => {
          for (const x of ch.choices || []) {
            if (x.delta?.reasoning_content) streamedReasoning += x.delta.reasoning_content;
          }
        });
        comp = await s.finalChatCompletion();
      } else {
        comp = await c.chat.completions.create(params);
      }
      assert.equal(comp.choices.length, 1, 'one choice');
      const m = comp.choices[0].message;
      assert.equal(m.role, 'assistant');
      const norm = {
        text: m.content || '',
        thinking: o.stream ? streamedReasoning : (m.reasoning_content || ''),
        tools: (m.tool_calls || []).map((t) => {
          assert.equal(t.type, 'function');
          assert.ok(t.id, 'tool call id');
          return { name: t.function.name, args: JSON.parse(t.function.arguments) };
        }),
        stop: comp.choices[0].finish_reason,
      };
      return { norm, raw: comp };
    },
    async turn2(first, model, results) {
      const c = openai();
      const m = first.choices[0].message;
      const messages = [
        { role: 'user', content: PROMPT },
        { role: 'assistant', content: m.content ?? null, tool_calls: m.tool_calls.map((t) => ({ id: t.id, type: 'function', function: { name: t.function.name, arguments: t.function.arguments } })) },
        ...m.tool_calls.map((t, i) => ({ role: 'tool', tool_call_id: t.id, content: results[i] })),
      ];
      const comp = await c.chat.completions.create({ model, messages, tools: chatTools });
      return comp.choices[0].message.content;
    },
    async error(model, stream) {
      const c = openai();
      const params = { model, messages: [{ role: 'user', content: PROMPT }] };
      if (stream) return c.chat.completions.stream(params).finalChatCompletion();
      return c.chat.completions.create(params);
    },
    checkErr(err) {
      assert.ok(err instanceof OpenAI.APIError, `APIError, got ${err?.constructor?.name}: ${err?.message}`);
      return { status: err.status, retryAfter: hdr(err.headers, 'retry-after'), body: err.error };
    },
    // response_format json_schema; parse() / the stream helper fill .parsed.
    normalStop: 'stop',
    async structured(model, stream) {
      const c = openai();
      const params = {
        model, messages: [{ role: 'user', content: STRUCT_PROMPT }],
        response_format: { type: 'json_schema', json_schema: { name: 'weather', schema: STRUCT_SCHEMA, strict: true } },
      };
      const comp = stream ? await c.chat.completions.stream(params).finalChatCompletion()
        : await c.chat.completions.parse(params);
      const m = comp.choices[0].message;
      return { value: m.parsed, text: m.content, stop: comp.choices[0].finish_reason };
    },
  },

  responses: {
    label: 'openai SDK responses',
    async run(model, o) {
      const c = openai();
      const params = { model, input: PROMPT };
      if (o.tools) params.tools = rspTools;
      if (o.thinking) params.reasoning = { effort: 'low', summary: 'auto' };
      const r = o.stream ? await c.responses.stream(params).finalResponse() : await c.responses.create(params);
      const norm = readRspJSON(r);
      if (!o.tools) assert.equal(r.output_text, norm.text, 'output_text');
      for (const t of norm.tools) { assert.ok(t.id, 'call_id'); delete t.id; }
      return { norm, raw: r };
    },
    async turn2(first, model, results) {
      const c = openai();
      const calls = first.output.filter((x) => x.type === 'function_call');
      const input = [
        { role: 'user', content: PROMPT },
        ...calls.map((x) => ({ type: 'function_call', call_id: x.call_id, name: x.name, arguments: x.arguments })),
        ...calls.map((x, i) => ({ type: 'function_call_output', call_id: x.call_id, output: results[i] })),
      ];
      const r = await c.responses.create({ model, input, tools: rspTools });
      return r.output_text;
    },
    async error(model, stream) {
      const c = openai();
      const params = { model, input: PROMPT };
      if (stream) return c.responses.stream(params).finalResponse();
      return c.responses.create(params);
    },
    checkErr(err) { return CLIENTS.chat.checkErr(err); },
    // text.format json_schema; parse() / the stream helper fill output_parsed.
    normalStop: 'completed',
    async structured(model, stream) {
      const c = openai();
      const params = {
        model, input: STRUCT_PROMPT,
        text: { format: { type: 'json_schema', name: 'weather', schema: STRUCT_SCHEMA, strict: true } },
      };
      const r = stream ? await c.responses.stream(params).finalResponse() : await c.responses.parse(params);
      return { value: r.output_parsed, text: r.output_text, stop: r.status };
    },
  },

  anthropic: {
    label: 'anthropic SDK messages',
    async run(model, o) {
      const c = anthropic();
      const params = { model, max_tokens: 4096, messages: [{ role: 'user', content: PROMPT }] };
      if (o.tools) params.tools = antTools;
      if (o.thinking) params.thinking = { type: 'enabled', budget_tokens: 1024 };
      const m = o.stream ? await c.messages.stream(params).finalMessage() : await c.messages.create(params);
      assert.equal(m.type, 'message');
      assert.equal(m.role, 'assistant');
      for (const b of m.content) {
        if (b.type === 'text') assert.ok(b.text.length > 0, 'no empty text blocks');
        if (b.type === 'tool_use') assert.ok(/^[a-zA-Z0-9_-]+$/.test(b.id), `tool_use id ${b.id}`);
      }
      const norm = readAnthJSON(m);
      for (const t of norm.tools) delete t.id;
      return { norm, raw: m };
    },
    async turn2(first, model, results) {
      const c = anthropic();
      const uses = first.content.filter((b) => b.type === 'tool_use');
      const messages = [
        { role: 'user', content: PROMPT },
        { role: 'assistant', content: first.content },
        { role: 'user', content: uses.map((u, i) => ({ type: 'tool_result', tool_use_id: u.id, content: results[i] })) },
      ];
      const m = await c.messages.create({ model, max_tokens: 4096, messages, tools: antTools });
      return m.content.filter((b) => b.type === 'text').map((b) => b.text).join('');
    },
    async error(model, stream) {
      const c = anthropic();
      const params = { model, max_tokens: 1024, messages: [{ role: 'user', content: PROMPT }] };
      if (stream) return c.messages.stream(params).finalMessage();
      return c.messages.create(params);
    },
    checkErr(err) {
      assert.ok(err instanceof Anthropic.APIError, `APIError, got ${err?.constructor?.name}: ${err?.message}`);
      return { status: err.status, retryAfter: hdr(err.headers, 'retry-after'), body: err.error };
    },
    // output_config.format (GA in this SDK) built by jsonSchemaOutputFormat;
    // parse() / the stream helper fill parsed_output.
    normalStop: 'end_turn',
    async structured(model, stream) {
      const c = anthropic();
      const params = {
        model, max_tokens: 1024, messages: [{ role: 'user', content: STRUCT_PROMPT }],
        output_config: { format: jsonSchemaOutputFormat(STRUCT_SCHEMA) },
      };
      const m = stream ? await c.messages.stream(params).finalMessage() : await c.messages.parse(params);
      const text = m.content.filter((b) => b.type === 'text').map((b) => b.text).join('');
      assert.deepEqual(m.content.map((b) => b.type), ['text'], 'one text block');
      return { value: m.parsed_output, text, stop: m.stop_reason };
    },
  },

  gemini: {
    label: '@google/genai models',
    async run(model, o) {
      const ai = genai();
      const params = { model, contents: PROMPT, config: {} };
      if (o.tools) params.config.tools = gemTools;
      if (o.thinking) params.config.thinkingConfig = { includeThoughts: true, thinkingBudget: 1024 };
      const acc = { text: '', thinking: '', tools: [] }; let fr;
      if (o.stream) {
        const it = await ai.models.generateContentStream(params);
        let n = 0;
        for await (const ch of it) {
          n++;
          const cand = ch.candidates?.[0];
          readGemParts(cand?.content?.parts, acc);
          if (cand?.finishReason) fr = cand.finishReason;
        }
        assert.ok(n > 0, 'stream yielded chunks');
      } else {
        const r = await ai.models.generateContent(params);
        const cand = r.candidates?.[0];
        assert.ok(cand, 'a candidate');
        readGemParts(cand.content?.parts, acc);
        fr = cand.finishReason;
        if (!o.tools) assert.equal(r.text ?? '', acc.text, '.text');
      }
      return { norm: { ...acc, stop: stopGem(fr, acc.tools) }, raw: null };
    },
    async turn2(first, model, results) {
      // first: non-stream generateContent response of the tools turn
      const ai = genai();
      const modelTurn = first.candidates[0].content;
      const calls = modelTurn.parts.filter((p) => p.functionCall);
      const contents = [
        { role: 'user', parts: [{ text: PROMPT }] },
        modelTurn,
        { role: 'user', parts: calls.map((p, i) => ({ functionResponse: { name: p.functionCall.name, ...(p.functionCall.id ? { id: p.functionCall.id } : {}), response: { result: results[i] } } })) },
      ];
      const r = await ai.models.generateContent({ model, contents, config: { tools: gemTools } });
      return r.text;
    },
    async error(model, stream) {
      const ai = genai();
      const params = { model, contents: PROMPT };
      if (stream) {
        const it = await ai.models.generateContentStream(params);
        const out = [];
        for await (const ch of it) out.push(ch);
        return out;
      }
      return ai.models.generateContent(params);
    },
    checkErr(err) {
      assert.ok(err && typeof err.status === 'number', `ApiError with status, got ${err?.constructor?.name}: ${err?.message}`);
      return { status: err.status, retryAfter: undefined, body: err.message };
    },
    // responseMimeType + responseJsonSchema; js-genai has no parse helper.
    normalStop: 'STOP',
    async structured(model, stream) {
      const ai = genai();
      const params = {
        model, contents: STRUCT_PROMPT,
        config: { responseMimeType: 'application/json', responseJsonSchema: STRUCT_SCHEMA },
      };
      let text = '', stop;
      if (stream) {
        for await (const ch of await ai.models.generateContentStream(params)) {
          text += ch.text ?? '';
          stop = ch.candidates?.[0]?.finishReason ?? stop;
        }
      } else {
        const r = await ai.models.generateContent(params);
        text = r.text;
        stop = r.candidates?.[0]?.finishReason;
      }
      return { value: JSON.parse(text), text, stop };
    },
  },
};

// The Gemini turn2 needs the raw first response: re-run non-stream tools raw.
async function gemToolsRaw(model) {
  const ai = genai();
  return ai.models.generateContent({ model, contents: PROMPT, config: { tools: gemTools } });
}

function hdr(h, name) {
  if (!h) return undefined;
  if (typeof h.get === 'function') return h.get(name) ?? undefined;
  return h[name] ?? h[name.toLowerCase()];
}

// The raw streamed body of a request in the client's own format.
async function rawStream(client, model) {
  let url, body;
  const headers = { 'content-type': 'application/json', authorization: `Bearer ${CLIENT_KEY}` };
  const msg = [{ role: 'user', content: PROMPT }];
  switch (client) {
    case 'chat': url = '/v1/chat/completions'; body = { model, messages: msg, stream: true }; break;
    case 'responses': url = '/v1/responses'; body = { model, input: PROMPT, stream: true }; break;
    case 'anthropic': url = '/v1/messages'; headers['anthropic-version'] = '2023-06-01';
      body = { model, max_tokens: 1024, messages: msg, stream: true }; break;
    case 'gemini': url = `/v1beta/models/${model}:streamGenerateContent?alt=sse`;
      body = { contents: [{ role: 'user', parts: [{ text: PROMPT }] }] }; break;
  }
  const res = await fetch(PROXY_URL + url, { method: 'POST', headers, body: JSON.stringify(body) });
  assert.equal(res.status, 200, 'a streamed answer had started');
  try { return await res.text(); } catch (e) { return `(transport error: ${e.message})`; }
}

// ------------------------------------------------------------ echo reader

function parseEcho(text) {
  assert.equal(typeof text, 'string', 'echo answer is text');
  const i = text.indexOf('\n\n');
  assert.ok(i > 0, `echo text has head and body: ${text.slice(0, 200)}`);
  const head = text.slice(0, i).split('\n');
  const [method, target] = head[0].split(' ');
  const headers = {};
  for (const l of head.slice(1)) {
    const k = l.indexOf(': ');
    headers[l.slice(0, k)] = l.slice(k + 2);
  }
  return { method, target, headers, body: JSON.parse(text.slice(i + 2)), raw: text };
}

function contentText(c) {
  if (typeof c === 'string') return c;
  if (Array.isArray(c)) return c.map((p) => (typeof p === 'string' ? p : p.text ?? JSON.stringify(p))).join('');
  return JSON.stringify(c);
}

// Assert the upstream request carries the calls and their results, linked.
function checkUpstreamToolTurn(up, echo, calls, results) {
  const b = echo.body;
  assert.equal(echo.method, 'POST');
  const paths = { oai: /^\/v1\/chat\/completions/, ant: /^\/v1\/messages/, gem: /^\/v1beta\/models\/[^:]+:generateContent/, rsp: /^\/v1\/responses/ };
  assert.match(echo.target, paths[up], 'upstream path');
  assert.ok(!echo.raw.includes(CLIENT_KEY), 'client key must not be forwarded upstream');
  const names = calls.map((c) => c.name);
  switch (up) {
    case 'oai': {
      const ai = b.messages.findIndex((m) => m.role === 'assistant' && m.tool_calls?.length);
      assert.ok(ai >= 0, 'assistant message with tool_calls');
      const tc = b.messages[ai].tool_calls;
      assert.deepEqual(tc.map((t) => t.function.name), names, 'tool call names');
      assert.deepEqual(tc.map((t) => parseArgs(t.function.arguments)), calls.map((c) => c.args), 'tool call arguments');
      const tm = b.messages.slice(ai + 1).filter((m) => m.role === 'tool');
      assert.equal(tm.length, calls.length, 'one tool message per call');
      tm.forEach((m, i) => {
        assert.equal(m.tool_call_id, tc[i].id, 'tool_call_id links to the call');
        assert.ok(contentText(m.content).includes(results[i]), 'tool result text');
      });
      break;
    }
    case 'ant': {
      const ai = b.messages.findIndex((m) => m.role === 'assistant' && Array.isArray(m.content) && m.content.some((x) => x.type === 'tool_use'));
      assert.ok(ai >= 0, 'assistant message with tool_use');
      const uses = b.messages[ai].content.filter((x) => x.type === 'tool_use');
      assert.deepEqual(uses.map((u) => u.name), names, 'tool_use names');
      assert.deepEqual(uses.map((u) => u.input), calls.map((c) => c.args), 'tool_use input');
      const next = b.messages[ai + 1];
      assert.equal(next?.role, 'user', 'tool results in the very next (user) message');
      const trs = next.content.filter((x) => x.type === 'tool_result');
      assert.equal(trs.length, calls.length, 'one tool_result per tool_use');
      assert.equal(next.content[0].type, 'tool_result', 'tool_result blocks come first');
      trs.forEach((t, i) => {
        assert.equal(t.tool_use_id, uses[i].id, 'tool_use_id links to the call');
        assert.ok(contentText(t.content).includes(results[i]), 'tool result text');
      });
      assert.equal(b.messages[0].role, 'user');
      assert.ok(Number.isInteger(b.max_tokens) && b.max_tokens > 0, 'max_tokens set');
      break;
    }
    case 'gem': {
      const mi = b.contents.findIndex((c) => c.role === 'model' && c.parts.some((p) => p.functionCall));
      assert.ok(mi >= 0, 'model turn with functionCall');
      const fcs = b.contents[mi].parts.filter((p) => p.functionCall).map((p) => p.functionCall);
      assert.deepEqual(fcs.map((f) => f.name), names, 'functionCall names');
      assert.deepEqual(fcs.map((f) => f.args), calls.map((c) => c.args), 'functionCall args');
      const next = b.contents[mi + 1];
      assert.equal(next?.role, 'user');
      const frs = next.parts.filter((p) => p.functionResponse).map((p) => p.functionResponse);
      assert.equal(frs.length, fcs.length, 'as many functionResponse parts as functionCall parts');
      frs.forEach((f, i) => {
        assert.equal(f.name, fcs[i].name, 'functionResponse name');
        assert.equal(typeof f.response, 'object', 'response is an object');
        assert.ok(JSON.stringify(f.response).includes(results[i]), 'tool result text');
      });
      break;
    }
    case 'rsp': {
      const input = b.input;
      const fcs = input.filter((x) => x.type === 'function_call');
      const outs = input.filter((x) => x.type === 'function_call_output');
      assert.deepEqual(fcs.map((f) => f.name), names, 'function_call names');
      assert.deepEqual(fcs.map((f) => parseArgs(f.arguments)), calls.map((c) => c.args), 'function_call arguments');
      assert.equal(outs.length, fcs.length);
      outs.forEach((o, i) => {
        assert.equal(o.call_id, fcs[i].call_id, 'call_id links to the call');
        assert.ok(contentText(o.output).includes(results[i]), 'tool result text');
      });
      break;
    }
  }
}

// ------------------------------------------------------------ test registry

const tests = [];
function test(name, group, fn, timeout = TEST_TIMEOUT_MS) {
  tests.push({ name, group, fn, timeout });
}

function assertNorm(got, exp, { thinking = true } = {}) {
  if (process.env.E2E_DEBUG) console.log(indent(`got: ${JSON.stringify(got)}\nexp: ${JSON.stringify(exp)}`));
  assert.ok(exp.text.length || exp.tools.length, 'fixture has content (sanity)');
  assert.equal(got.text, exp.text, 'text');
  assert.deepEqual(got.tools, exp.tools, 'tool calls (name, parsed arguments)');
  assert.equal(got.stop, exp.stop, 'stop reason');
  if (thinking && exp.thinking) assert.equal(got.thinking, exp.thinking, 'thinking text');
}

function matrix(client, up, group) {
  const C = CLIENTS[client];
  const base = `${client} -> ${up}`;
  const m = (s) => `${up}-${s}`;

  test(`${base}: text`, group, async () => {
    const { norm } = await C.run(m('text'), { stream: false });
    assertNorm(norm, await expected(up, 'text', false));
    assert.equal(norm.stop, 'stop');
  });
  test(`${base}: streamed text`, group, async () => {
    const { norm } = await C.run(m('text'), { stream: true });
    assertNorm(norm, await expected(up, 'text', true));
    assert.equal(norm.stop, 'stop');
  });
  // The upstream pauses 1 s after its first event; the proxy's heartbeats
  // (every 300 ms: an SSE comment, Anthropic's ping event) fill the gap.
  // The SDK must ignore them: the answer is the one without the pause.
  test(`${base}: heartbeats on a quiet stream are ignored`, group, async () => {
    const raw = await rawStream(client, m('pause=1000'));
    const hb = client === 'anthropic' ? 'event: ping\ndata: {"type": "ping"}\n\n' : ': keep-alive\n\n';
    assert.ok(raw.split(hb).length - 1 >= 2, `heartbeats in the raw stream:\n${raw.slice(0, 600)}`);
    const { norm } = await C.run(m('pause=1000'), { stream: true });
    assertNorm(norm, await expected(up, 'text', true));
    assert.equal(norm.stop, 'stop');
  });
  test(`${base}: tools`, group, async () => {
    const { norm } = await C.run(m('tools'), { stream: false, tools: true });
    const exp = await expected(up, 'tools', false);
    assert.ok(exp.tools.length >= 1);
    assertNorm(norm, exp);
    assert.equal(norm.stop, 'tool_calls');
  });
  test(`${base}: streamed parallel tools`, group, async () => {
    const { norm } = await C.run(m('tools-parallel'), { stream: true, tools: true });
    const exp = await expected(up, 'tools-parallel', true);
    assert.ok(exp.tools.length >= 1);
    // Chat clients cannot carry thinking in a way the stream helper keeps.
    assertNorm(norm, exp, { thinking: client !== 'chat' });
    assert.equal(norm.stop, 'tool_calls');
  });
  test(`${base}: tool result turn`, group, async () => {
    const first = await C.run(m('tools'), { stream: false, tools: true });
    const calls = first.norm.tools;
    assert.ok(calls.length >= 1, 'first turn has tool calls');
    const results = calls.map((c, i) => `RESULT-${i}-${c.name}: 22 degrees`);
    const raw = client === 'gemini' ? await gemToolsRaw(m('tools')) : first.raw;
    const text = await C.turn2(raw, m('echo'), results);
    checkUpstreamToolTurn(up, parseEcho(text), calls, results);
  });
  test(`${base}: thinking`, group, async () => {
    const { norm } = await C.run(m('thinking'), { stream: false, thinking: true });
    const exp = await expected(up, 'thinking', false);
    assertNorm(norm, exp);
    assert.ok(!exp.thinking || !norm.text.includes(exp.thinking), 'thinking not leaked into the answer text');
  });
  test(`${base}: streamed thinking`, group, async () => {
    const { norm } = await C.run(m('thinking'), { stream: true, thinking: true });
    const exp = await expected(up, 'thinking', true);
    assertNorm(norm, exp);
    assert.ok(!exp.thinking || !norm.text.includes(exp.thinking), 'thinking not leaked into the answer text');
  });
  for (const stream of [false, true]) {
    test(`${base}: ${stream ? 'streamed ' : ''}structured output`, group, async () => {
      const r = await C.structured(m('structured'), stream);
      if (process.env.E2E_DEBUG) console.log(indent(`got: ${JSON.stringify(r)}`));
      assert.deepEqual(r.value, STRUCT_ANSWER, `parsed object (text ${JSON.stringify(r.text)})`);
      assert.equal(r.stop, C.normalStop, 'stop reason');
    });
  }
  for (const stream of [false, true]) {
    test(`${base}: ${stream ? 'streamed ' : ''}429 keeps status and retry-after`, group, async () => {
      let err = null;
      try { await C.error(m('error429'), stream); } catch (e) { err = e; }
      assert.ok(err, 'the SDK must throw');
      const e = C.checkErr(err);
      assert.equal(e.status, 429, `status (${err.message})`);
      if (client !== 'gemini') assert.equal(e.retryAfter, '7', 'retry-after header');
      if (client === 'anthropic') assert.equal(err.error?.error?.type, 'rate_limit_error', 'anthropic error type');
      if (client === 'chat' || client === 'responses') assert.ok(err.message.length > 0);
      if (client === 'gemini') {
        // js-genai does not expose headers: check the raw answer.
        const r = await fetch(`${PROXY_URL}/v1beta/models/${m('error429')}:generateContent`, {
          method: 'POST', headers: { 'content-type': 'application/json', 'x-goog-api-key': CLIENT_KEY },
          body: JSON.stringify({ contents: [{ role: 'user', parts: [{ text: 'hi' }] }] }),
        });
        const j = await r.json();
        assert.equal(r.status, 429);
        assert.equal(r.headers.get('retry-after'), '7', 'retry-after header');
        assert.equal(j.error?.code, 429);
        assert.equal(j.error?.status, 'RESOURCE_EXHAUSTED');
      }
    });
  }
  // The SDK helpers above also throw on structural grounds (missing
  // finish_reason / message_stop); clients that are laxer (openai-python
  // tolerates a missing finish_reason, anthropic-python a missing
  // message_stop, openai-node Responses and js-genai a missing terminal
  // event) need the in-band error the README promises.
  test(`${base}: cut-off stream ends with an in-band error event`, group, async () => {
    const raw = await rawStream(client, m('truncate'));
    const evs = sseEvents(raw);
    assert.ok(evs.length > 0, 'some events before the cut');
    const isErr = (e) => {
      if (e.event === 'error' || e.event === 'response.failed') return true;
      try { const j = JSON.parse(e.data); return !!j.error || j.type === 'error' || j.type === 'response.failed'; } catch { return false; }
    };
    assert.ok(evs.some(isErr), `no error event in the client's format; the stream ends with:\n${raw.slice(-400)}`);
  });
  test(`${base}: cut-off stream is an error`, group, async () => {
    let err = null, res;
    try { res = await C.error(m('truncate'), true); } catch (e) { err = e; }
    assert.ok(err, `the stream helper must throw on a cut-off stream, it returned ${JSON.stringify(res)?.slice(0, 300)}`);
    assert.ok(!(err instanceof assert.AssertionError), err.message);
    if (process.env.E2E_DEBUG) console.log(indent(`threw ${err.constructor?.name}: ${err.message}`));
  });
}

// The response cache: the same request again is answered from the cache
// (the mock is not asked), streamed and not, and each SDK reads the
// replayed answer like the first one.
async function mockRequests() {
  const r = await fetch(`${MOCK_URL}/_stats`);
  return (await r.json()).requests;
}
for (const client of ['chat', 'responses', 'anthropic', 'gemini']) {
  test(`${client} -> oai: cached answers are replayed, streamed and not`, 'cache', async () => {
    const C = CLIENTS[client];
    for (const stream of [false, true]) {
      const model = `cache-${client}-${stream ? 's' : 'n'}`;
      const n0 = await mockRequests();
      const first = await C.run(model, { stream });
      const n1 = await mockRequests();
      const second = await C.run(model, { stream });
      const n2 = await mockRequests();
      assert.equal(n1 - n0, 1, 'the first request went upstream');
      assert.equal(n2 - n1, 0, 'the second was answered from the cache');
      assertNorm(second.norm, await expected('oai', 'text', stream));
      assert.deepEqual(second.norm, first.norm, 'the same answer');
    }
  });
}

const UPSTREAMS = ['oai', 'ant', 'gem', 'rsp'];
for (const client of ['chat', 'responses', 'anthropic', 'gemini']) {
  for (const up of UPSTREAMS) matrix(client, up, 'matrix');
}

// The structured scenario itself: without the schema in the upstream's own
// place the mock refuses (so the matrix rows above can fail), with it the
// mock answers the fixed object.
test('mock -> all: structured scenario checks the schema', 'matrix', async () => {
  const S = STRUCT_SCHEMA;
  const cases = {
    oai: ['/v1/chat/completions', { model: 'structured', messages: [] },
      { response_format: { type: 'json_schema', json_schema: { name: 'w', schema: S } } }],
    rsp: ['/v1/responses', { model: 'structured', input: 'hi' },
      { text: { format: { type: 'json_schema', name: 'w', schema: S } } }],
    ant: ['/v1/messages', { model: 'structured', max_tokens: 10, messages: [] },
      { output_config: { format: { type: 'json_schema', schema: S } } }],
    gem: ['/v1beta/models/structured:generateContent', { contents: [] },
      { generationConfig: { responseMimeType: 'application/json', responseJsonSchema: S } }],
  };
  for (const [up, [url, base, fmt]] of Object.entries(cases)) {
    const post = (body) => fetch(MOCK_URL + url, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) });
    let r = await post(base);
    const bad = await r.text();
    assert.equal(r.status, 400, `${up}: no schema must be a 400: ${bad}`);
    assert.match(bad, /mock structured: /, `${up}: the 400 says what is missing`);
    r = await post({ ...base, ...fmt });
    const j = await r.json();
    assert.equal(r.status, 200, `${up}: ${JSON.stringify(j)}`);
    const got = { oai: readChatJSON, ant: readAnthJSON, gem: readGemJSON, rsp: readRspJSON }[up](j);
    assert.deepEqual(JSON.parse(got.text), STRUCT_ANSWER, up);
    assert.equal(got.stop, 'stop', up);
  }
});

test('gemini SDK, default apiVersion v1 -> oai: text and streamed text', 'matrix', async () => {
  const ai = genai(null);
  const r = await ai.models.generateContent({ model: 'oai-text', contents: PROMPT });
  assert.equal(r.text, (await expected('oai', 'text', false)).text);
  let text = '';
  for await (const ch of await ai.models.generateContentStream({ model: 'oai-text', contents: PROMPT })) text += ch.text ?? '';
  assert.equal(text, (await expected('oai', 'text', true)).text);
});

// Converted Gemini streams hold nothing back: each text delta is a chunk of
// its own, sent when the upstream event arrives, and the stream ends with a
// chunk of its own ({"text":""} + finishReason + usageMetadata). With the
// mock's "slow" pacing (one upstream event every 200 ms) the last text chunk
// therefore arrives well before the final chunk, which waits for the
// upstream's finish events. (gemini -> gem is a passthrough.)
for (const up of ['oai', 'ant', 'rsp']) {
  test(`gemini -> ${up}: streamed text is not held back (slow upstream)`, 'matrix', async () => {
    const ai = genai();
    let text = '', tLastText = 0, tFinish = 0, finals = 0;
    for await (const ch of await ai.models.generateContentStream({ model: `${up}-text-slow`, contents: PROMPT })) {
      const c = ch.candidates?.[0];
      const t = (c?.content?.parts || []).map((p) => p.text ?? '').join('');
      if (t) { text += t; tLastText = Date.now(); }
      if (c?.finishReason) {
        finals++;
        tFinish = Date.now();
        assert.deepEqual(c.content?.parts, [{ text: '' }], 'the final chunk has one empty text part');
        assert.ok(ch.usageMetadata, 'the final chunk has usageMetadata');
      }
    }
    assert.equal(text, (await expected(up, 'text', true)).text);
    assert.equal(finals, 1, 'one chunk with finishReason');
    assert.ok(tFinish - tLastText >= 100, `last text ${tFinish - tLastText} ms before the final chunk: held back`);
  });
}

// js-genai chats keep a converted streamed turn (a chunk with parts [] or no
// parts would make them drop it), and the next turn goes out with it.
for (const up of ['oai', 'ant', 'rsp']) {
  test(`gemini -> ${up}: chats.sendMessageStream keeps the turn in history`, 'matrix', async () => {
    const chat = genai().chats.create({ model: `${up}-text` });
    let text = '';
    for await (const ch of await chat.sendMessageStream({ message: PROMPT })) text += ch.text ?? '';
    const exp = (await expected(up, 'text', true)).text;
    assert.equal(text, exp);
    // js-genai records each chunk's content as its own model entry; an
    // invalid chunk would leave one empty model turn (dropped with the user
    // turn from the curated history)
    const h = chat.getHistory(true);
    assert.ok(h.length >= 2, `curated history has the turn (${h.length} entries)`);
    assert.equal(h[0].role, 'user');
    assert.ok(h.slice(1).every((c) => c.role === 'model'), 'model entries after the user turn');
    assert.equal(h.slice(1).flatMap((c) => c.parts).map((p) => p.text ?? '').join(''), exp);
  });
}

// ------------------------------------------------------------ legacy completions
// openai SDK completions.create (POST /v1/completions), converted to chat for
// every upstream kind; expectations from the mock as for the matrix.
for (const up of ['oai', 'ant', 'gem', 'rsp']) {
  const group = 'matrix';
  const base = `completions -> ${up}`;
  const m = (s) => `${up}-${s}`;
  const readStream = async (params) => {
    let text = '', finish = null, usage = null, id = null;
    for await (const ch of await openai().completions.create({ ...params, stream: true })) {
      assert.equal(ch.object, 'text_completion');
      assert.equal(ch.model, params.model);
      id ??= ch.id;
      assert.equal(ch.id, id, 'one id per stream');
      if (ch.choices.length === 0) { usage = ch.usage; continue; }
      const c = ch.choices[0];
      assert.equal(c.index, 0);
      assert.equal(c.logprobs, null);
      assert.equal(finish, null, 'nothing after the finish chunk but usage');
      text += c.text;
      finish = c.finish_reason;
    }
    assert.match(id, /^cmpl-/);
    return { text, finish, usage };
  };
  for (const scen of ['text', 'thinking']) {
    test(`${base}: ${scen}`, group, async () => {
      const r = await openai().completions.create({ model: m(scen), prompt: PROMPT, max_tokens: 256 });
      const exp = await expected(up, scen, false);
      assert.equal(r.object, 'text_completion');
      assert.match(r.id, /^cmpl-/);
      assert.equal(r.model, m(scen));
      assert.equal(r.choices.length, 1);
      assert.equal(r.choices[0].logprobs, null);
      assert.equal(r.choices[0].text, exp.text, 'text');
      assert.equal(r.choices[0].finish_reason, 'stop');
      assert.ok(!exp.thinking || !r.choices[0].text.includes(exp.thinking), 'thinking not shown');
      assert.equal(r.usage.total_tokens, r.usage.prompt_tokens + r.usage.completion_tokens);
    });
    test(`${base}: streamed ${scen}`, group, async () => {
      const s = await readStream({ model: m(scen), prompt: PROMPT, stream_options: { include_usage: true } });
      const exp = await expected(up, scen, true);
      assert.equal(s.text, exp.text, 'text');
      assert.equal(s.finish, 'stop');
      assert.ok(s.usage && typeof s.usage.total_tokens === 'number', 'usage chunk');
      assert.ok(!exp.thinking || !s.text.includes(exp.thinking), 'thinking not shown');
    });
  }
  test(`${base}: 429 and refused fields are APIErrors`, group, async () => {
    for (const stream of [false, true]) {
      const err = await openai().completions.create({ model: m('error429'), prompt: PROMPT, stream }).then(() => null, (e) => e);
      assert.ok(err instanceof OpenAI.APIError, `APIError, got ${err}`);
      assert.equal(err.status, 429);
      assert.equal(hdr(err.headers, 'retry-after'), '7');
    }
    const err = await openai().completions.create({ model: m('text'), prompt: PROMPT, suffix: 'x' }).then(() => null, (e) => e);
    assert.ok(err instanceof OpenAI.BadRequestError, `BadRequestError, got ${err}`);
    assert.match(err.message, /'suffix'/);
  });
  test(`${base}: cut-off stream is an error`, group, async () => {
    const err = await readStream({ model: m('truncate'), prompt: PROMPT }).then(() => null, (e) => e);
    assert.ok(err instanceof OpenAI.APIError, `the SDK must throw an APIError, got ${err}`);
  });
}

// ------------------------------------------------------------ CLIs

function runCmd(cmd, args, opts, timeoutMs) {
  return new Promise((resolve) => {
    const p = spawn(cmd, args, { ...opts, stdio: ['ignore', 'pipe', 'pipe'], detached: true });
    let stdout = '', stderr = '', timedOut = false;
    p.stdout.on('data', (d) => { stdout += d; });
    p.stderr.on('data', (d) => { stderr += d; });
    const t = setTimeout(() => {
      timedOut = true;
      try { process.kill(-p.pid, 'SIGKILL'); } catch { p.kill('SIGKILL'); }
    }, timeoutMs);
    p.on('close', (code, signal) => { clearTimeout(t); resolve({ code, signal, stdout, stderr, timedOut }); });
    p.on('error', (e) => { clearTimeout(t); resolve({ code: -1, stdout, stderr: stderr + String(e), timedOut }); });
  });
}

function cleanEnv(extra) {
  const env = {};
  for (const [k, v] of Object.entries(process.env)) {
    if (/^(ANTHROPIC_|OPENAI_|CLAUDE_|CODEX_|GEMINI_|GOOGLE_)/.test(k)) continue;
    if (/^(HTTPS?_PROXY|https?_proxy|ALL_PROXY|all_proxy)$/.test(k)) continue;
    env[k] = v;
  }
  env.NO_PROXY = '127.0.0.1,localhost';
  return { ...env, ...extra };
}

function cliResultMessage(r) {
  return `exit=${r.code}${r.signal ? ` signal=${r.signal}` : ''}${r.timedOut ? ' (timed out)' : ''}\n--- stdout\n${r.stdout.slice(-3000)}\n--- stderr\n${r.stderr.slice(-3000)}`;
}

// Claude Code: ANTHROPIC_BASE_URL = the proxy; with -p it sends one
// streamed POST /v1/messages?beta=true for the model given.
function claudeCodeTest(model, up, group) {
  test(`claude-code CLI -> ${up}: -p text (${model})`, group, async () => {
    const bin = path.join(HERE, 'node_modules/.bin/claude');
    assert.ok(fs.existsSync(bin), 'node_modules/.bin/claude installed');
    const home = fs.mkdtempSync(path.join(tmpRoot, 'claude-home-'));
    const work = fs.mkdtempSync(path.join(tmpRoot, 'claude-work-'));
    const exp = await expected(up, 'text', true);
    const r = await runCmd(bin, ['-p', 'say hi', '--model', model], {
      cwd: work,
      env: cleanEnv({
        HOME: home,
        XDG_CONFIG_HOME: path.join(home, '.config'),
        ANTHROPIC_BASE_URL: PROXY_URL,
        ANTHROPIC_API_KEY: CLIENT_KEY,
        CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC: '1',
        DISABLE_AUTOUPDATER: '1',
        DISABLE_TELEMETRY: '1',
        DISABLE_ERROR_REPORTING: '1',
        CI: '1',
      }),
    }, CLI_TIMEOUT_MS - 5000);
    assert.ok(r.stdout.includes(exp.text.trim()), `stdout must contain the mock's answer ${JSON.stringify(exp.text)}\n${cliResultMessage(r)}`);
    assert.equal(r.code, 0, cliResultMessage(r));
  }, CLI_TIMEOUT_MS);
}

// Codex: a temp CODEX_HOME/config.toml with a Responses provider pointing at
// the proxy. Out of the box Codex 0.169 sends, besides function tools, a
// {"type":"namespace"} tool (multi_agent_v1: sub-agent tools) and a hosted
// {"type":"web_search"} tool; the default rows keep them. functionToolsOnly
// sets web_search = "disabled" and [features] multi_agent = false, which
// leaves only function tools.
async function codexRun(model, { functionToolsOnly = false, prompt = 'say hi', baseUrl = PROXY_URL } = {}) {
  const bin = path.join(HERE, 'node_modules/.bin/codex');
  assert.ok(fs.existsSync(bin), 'node_modules/.bin/codex installed');
  const home = fs.mkdtempSync(path.join(tmpRoot, 'codex-home-'));
  const work = fs.mkdtempSync(path.join(tmpRoot, 'codex-work-'));
  fs.writeFileSync(path.join(home, 'config.toml'), [
    `model = "${model}"`,
    'model_provider = "llmproxy"',
    'approval_policy = "never"',
    'sandbox_mode = "read-only"',
    ...(functionToolsOnly ? ['web_search = "disabled"', '', '[features]', 'multi_agent = false'] : []),
    '',
    '[model_providers.llmproxy]',
    'name = "llmproxy"',
    `base_url = "${baseUrl}/v1"`,
    'wire_api = "responses"',
    'env_key = "LLMPROXY_KEY"',
    'request_max_retries = 0',
    'stream_max_retries = 0',
    '',
  ].join('\n'));
  return runCmd(bin, ['exec', '--skip-git-repo-check', '-m', model, prompt], {
    cwd: work,
    env: cleanEnv({ HOME: home, CODEX_HOME: home, LLMPROXY_KEY: CLIENT_KEY, RUST_LOG: 'error' }),
  }, CLI_TIMEOUT_MS - 5000);
}

function codexTest(model, up, group, { functionToolsOnly = false } = {}) {
  const what = functionToolsOnly ? 'function tools only' : 'default tools';
  test(`codex CLI -> ${up}: exec, ${what} (${model})`, group, async () => {
    const exp = await expected(up, 'text', true);
    const r = await codexRun(model, { functionToolsOnly });
    assert.ok(r.stdout.includes(exp.text.trim()) || r.stderr.includes(exp.text.trim()),
      `output must contain the mock's answer ${JSON.stringify(exp.text)}\n${cliResultMessage(r)}`);
    assert.equal(r.code, 0, cliResultMessage(r));
  }, CLI_TIMEOUT_MS);
}

// A tool round trip through the conversion: the mock's "roundtrip" scenario
// first answers a call to Codex's shell tool, exec_command {"cmd":"echo
// mock-$((6*7))"}; Codex runs it (read-only sandbox) and sends the output
// back as a function_call_output, converted to the upstream's tool-result
// shape; the mock then answers a text saying whether "mock-42" (which only
// the command's output contains) came back.
function codexRoundTripTest(up, group) {
  test(`codex CLI -> ${up}: exec_command round trip (${up}-roundtrip)`, group, async () => {
    const r = await codexRun(`${up}-roundtrip`, { functionToolsOnly: true, prompt: 'run the command' });
    const out = r.stdout + r.stderr;
    assert.ok(!out.includes('Round trip broken'), `the tool output did not reach the upstream\n${cliResultMessage(r)}`);
    assert.ok(out.includes('Round trip done: the tool output came back.'), `no final answer\n${cliResultMessage(r)}`);
    assert.equal(r.code, 0, cliResultMessage(r));
  }, CLI_TIMEOUT_MS);
}

// Gemini CLI: GOOGLE_GEMINI_BASE_URL = the proxy, GEMINI_API_KEY = a client
// key. With the base URL set and no saved choice it picks the "gateway" auth
// type, which headless mode rejects ("Invalid auth method selected"), so the
// temp HOME's settings select "gemini-api-key"; --skip-trust because the
// temp work directory is not a trusted folder.
function geminiCliTest(model, up, group) {
  test(`gemini CLI -> ${up}: -p text (${model})`, group, async () => {
    const bin = path.join(HERE, 'node_modules/.bin/gemini');
    assert.ok(fs.existsSync(bin), 'node_modules/.bin/gemini installed');
    const home = fs.mkdtempSync(path.join(tmpRoot, 'gemini-home-'));
    const work = fs.mkdtempSync(path.join(tmpRoot, 'gemini-work-'));
    fs.mkdirSync(path.join(home, '.gemini'));
    fs.writeFileSync(path.join(home, '.gemini', 'settings.json'), JSON.stringify({
      security: { auth: { selectedType: 'gemini-api-key' } },
      privacy: { usageStatisticsEnabled: false },
      telemetry: { enabled: false },
    }));
    const exp = await expected(up, 'text', true);
    const r = await runCmd(bin, ['--skip-trust', '-p', 'say hi', '-m', model], {
      cwd: work,
      env: cleanEnv({
        HOME: home,
        GOOGLE_GEMINI_BASE_URL: PROXY_URL,
        GEMINI_API_KEY: CLIENT_KEY,
        GEMINI_CLI_NO_RELAUNCH: 'true',
      }),
    }, CLI_TIMEOUT_MS - 5000);
    assert.ok(r.stdout.includes(exp.text.trim()), `stdout must contain the mock's answer ${JSON.stringify(exp.text)}\n${cliResultMessage(r)}`);
    assert.equal(r.code, 0, cliResultMessage(r));
  }, CLI_TIMEOUT_MS);
}

if (!NO_CLI) {
  for (const up of UPSTREAMS) claudeCodeTest(`${up}-text`, up, 'cli');
  for (const up of UPSTREAMS) codexTest(`${up}-text`, up, 'cli');
  // Until the hosted/namespace tools convert for every upstream kind, these
  // show that Codex's function tools and stream do.
  for (const up of ['oai', 'ant', 'gem']) codexTest(`${up}-text`, up, 'cli', { functionToolsOnly: true });
  for (const up of UPSTREAMS) codexRoundTripTest(up, 'cli');
  for (const up of UPSTREAMS) geminiCliTest(`${up}-text`, up, 'cli');
}

// ------------------------------------------------------------ fallback chain

// The route chain-* tries provider r429 (Anthropic) first, whose key the
// mock answers 429 with Retry-After (the model name says k429=r429key),
// then oai (Chat): the client sees a normal answer, converted across
// formats, and x-llmproxy-attempts: 2.
async function mockCreds(model) {
  const j = await (await fetch(`${MOCK_URL}/_creds`)).json();
  return j.requests.filter((r) => r.model === model).map((r) => r.cred);
}

for (const stream of [false, true]) {
  const what = stream ? 'streamed text' : 'text';
  test(`openai SDK -> chain: first provider 429, ${what}`, 'chain', async () => {
    const model = `chain-k429=r429key-chat${stream ? '-s' : ''}`;
    const exp = await expected('oai', 'text', stream);
    const { data, response } = await openai().chat.completions.create({
      model, messages: [{ role: 'user', content: PROMPT }], stream,
    }).withResponse();
    let text = '';
    if (stream) {
      for await (const ch of data) text += ch.choices[0]?.delta?.content || '';
    } else {
      text = data.choices[0].message.content;
      assert.equal(data.choices[0].finish_reason, exp.stop);
    }
    assert.equal(text, exp.text, 'the second provider\'s answer');
    assert.equal(hdr(response.headers, 'x-llmproxy-attempts'), '2');
    assert.deepEqual(await mockCreds(model), ['r429key', 'sk-upstream-oai']);
  });
  test(`anthropic SDK -> chain: first provider 429, ${what}`, 'chain', async () => {
    const model = `chain-k429=r429key-ant${stream ? '-s' : ''}`;
    const exp = await expected('oai', 'text', stream);
    const { data, response } = await anthropic().messages.create({
      model, max_tokens: 1024, messages: [{ role: 'user', content: PROMPT }], stream,
    }).withResponse();
    let text = '', stop = null;
    if (stream) {
      for await (const ev of data) {
        if (ev.type === 'content_block_delta' && ev.delta.type === 'text_delta') text += ev.delta.text;
        if (ev.type === 'message_delta') stop = ev.delta.stop_reason;
      }
    } else {
      text = data.content.filter((b) => b.type === 'text').map((b) => b.text).join('');
      stop = data.stop_reason;
    }
    assert.equal(text, exp.text, 'the second provider\'s answer');
    assert.equal(stop, 'end_turn');
    assert.equal(hdr(response.headers, 'x-llmproxy-attempts'), '2');
    assert.deepEqual(await mockCreds(model), ['r429key', 'sk-upstream-oai']);
  });
}

if (!NO_CLI) {
  test('claude-code CLI -> chain: first provider 429, -p text', 'chain', async () => {
    const bin = path.join(HERE, 'node_modules/.bin/claude');
    assert.ok(fs.existsSync(bin), 'node_modules/.bin/claude installed');
    const home = fs.mkdtempSync(path.join(tmpRoot, 'claude-home-'));
    const work = fs.mkdtempSync(path.join(tmpRoot, 'claude-work-'));
    const model = 'chain-k429=r429key-cc';
    const exp = await expected('oai', 'text', true);
    const r = await runCmd(bin, ['-p', 'say hi', '--model', model], {
      cwd: work,
      env: cleanEnv({
        HOME: home,
        XDG_CONFIG_HOME: path.join(home, '.config'),
        ANTHROPIC_BASE_URL: PROXY_URL,
        ANTHROPIC_API_KEY: CLIENT_KEY,
        CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC: '1',
        DISABLE_AUTOUPDATER: '1',
        DISABLE_TELEMETRY: '1',
        DISABLE_ERROR_REPORTING: '1',
        CI: '1',
      }),
    }, CLI_TIMEOUT_MS - 5000);
    assert.ok(r.stdout.includes(exp.text.trim()), `stdout must contain the second provider's answer ${JSON.stringify(exp.text)}\n${cliResultMessage(r)}`);
    assert.equal(r.code, 0, cliResultMessage(r));
    const creds = await mockCreds(model);
    assert.equal(creds[0], 'r429key', `the first provider was tried first: ${creds}`);
    assert.ok(creds.includes('sk-upstream-oai'), `the second answered: ${creds}`);
    assert.ok(!creds.slice(1).includes('r429key'), `the 429 key cools down: ${creds}`);
  }, CLI_TIMEOUT_MS);
}

// ------------------------------------------------------------ exec provider

// The OpenAI SDK against the proxy, whose exec provider runs the real
// Claude Code CLI (stream-json in and out), which asks the mock's
// Anthropic endpoint: the mock's text comes back as a normal Chat answer
// and stream, and the mock saw Claude Code's request with the exec
// provider's key.
if (!NO_CLI) {
  for (const stream of [false, true]) {
    test(`openai SDK -> claude-code exec: ${stream ? 'streamed text' : 'text'}`, 'exec', async () => {
      assert.ok(fs.existsSync(CLAUDE_BIN), 'node_modules/.bin/claude installed');
      const exp = await expected('ant', 'text', true);
      const c = new OpenAI({ apiKey: CLIENT_KEY, baseURL: `${PROXY_URL}/v1`, maxRetries: 0, timeout: CLI_TIMEOUT_MS - 5000 });
      const model = `exec-gpt-4o${stream ? '-s' : ''}`;
      const messages = [{ role: 'user', content: 'say hi' }];
      let text = '', finish = null, usage = null;
      if (stream) {
        const s = await c.chat.completions.create({ model, messages, stream: true, stream_options: { include_usage: true } });
        for await (const ch of s) {
          text += ch.choices[0]?.delta?.content || '';
          if (ch.choices[0]?.finish_reason) finish = ch.choices[0].finish_reason;
          if (ch.usage) usage = ch.usage;
        }
      } else {
        const r = await c.chat.completions.create({ model, messages });
        assert.equal(r.model, model);
        text = r.choices[0].message.content;
        finish = r.choices[0].finish_reason;
        usage = r.usage;
      }
      assert.equal(text, exp.text, 'the mock\'s answer, through Claude Code');
      assert.equal(finish, 'stop');
      assert.ok(usage && usage.completion_tokens > 0, `usage: ${JSON.stringify(usage)}`);
      const seen = await (await fetch(`${MOCK_URL}/_creds`)).json();
      assert.ok(seen.requests.some((r) => r.cred === 'sk-upstream-claude-cli' && r.model === 'ant-text'),
        `the mock saw no request from Claude Code: ${JSON.stringify(seen.requests.slice(-3))}`);
      await sleep(150); // the access log is flushed every 100 ms
      assert.ok(proxyLog.includes(`model=${model} provider=claude-cli`), 'the access log names the exec provider');
    }, CLI_TIMEOUT_MS);
  }
}

// ------------------------------------------------------------ subscription accounts

// A second proxy whose providers are a Claude and a Codex subscription
// account (types claude-account and codex-account), pointed at the mock
// upstream, which serves an account request only with the mock
// authorization server's token and what that kind's own client sends
// (mock_upstream.c, acct_route()). Set up once, by the first test of the
// group: build/mock_oauth, then `llmproxy login claude` and `llmproxy
// login codex` (--no-browser: the test plays the browser on the mock's
// /authorize and pastes the answer back) into the group's own state
// directory, sealed with LLMPROXY_SECRET, then the proxy on that state
// directory. Every endpoint is overridden to the mocks
// (LLMPROXY_<KIND>_<NAME>), so neither the logins nor a renewal leaves the
// machine.
const OAUTH_BIN = path.resolve(process.env.OAUTH_BIN || path.join(path.dirname(MOCK_BIN), 'mock_oauth'));
const ACCT_SECRET = 'e2e-account-secret-0123456789';
let oauthProc, acctProxyProc, ACCT_URL, acctSetupP = null;

// Start a process that prints "listening PORT" on its standard output.
async function startListening(bin, args, what) {
  if (!fs.existsSync(bin)) throw new Error(`${what} not found: ${bin}`);
  const p = spawn(bin, args, { cwd: ROOT, stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '', err = '';
  p.stderr.on('data', (d) => { err += d; });
  const port = await new Promise((resolve, reject) => {
    const t = setTimeout(() => reject(new Error(`${what} did not print "listening PORT": ${out}${err}`)), 10000);
    p.stdout.on('data', (d) => {
      out += d;
      const m = out.match(/listening (\d+)/);
      if (m) { clearTimeout(t); resolve(Number(m[1])); }
    });
    p.on('exit', (code) => { clearTimeout(t); reject(new Error(`${what} exited ${code}: ${err}`)); });
  });
  p.stdout.resume();
  return { p, port };
}

function acctEnv(oauthUrl, stateDir) {
  const env = { ...process.env, LLMPROXY_STATE_DIR: stateDir, LLMPROXY_SECRET: ACCT_SECRET };
  for (const k of ['BROWSER', 'DISPLAY', 'WAYLAND_DISPLAY']) delete env[k];
  for (const kind of ['CLAUDE', 'CODEX']) {
    env[`LLMPROXY_${kind}_AUTHORIZE_URL`] = `${oauthUrl}/authorize`;
    env[`LLMPROXY_${kind}_TOKEN_URL`] = `${oauthUrl}/${kind.toLowerCase()}/token`;
  }
  return env;
}

// `llmproxy login KIND --name LABEL --no-browser`: the authorize URL it
// prints is fetched from the mock (a 302 to the callback with code and
// state), and the answer pasted back: Claude's page shows "code#state",
// for Codex the address the browser ended on.
async function acctLogin(env, kind, label) {
  const p = spawn(LLMPROXY_BIN, ['login', kind, '--name', label, '--no-browser'], {
    cwd: ROOT, env, stdio: ['pipe', 'pipe', 'pipe'],
  });
  let out = '';
  p.stdout.on('data', (d) => { out += d; });
  p.stderr.on('data', (d) => { out += d; });
  const exit = new Promise((resolve) => p.on('close', (code) => resolve(code)));
  const deadline = Date.now() + 10000;
  while (!/paste the code/.test(out)) {
    if (Date.now() > deadline || p.exitCode !== null) {
      p.kill('SIGKILL');
      throw new Error(`login ${kind}: no prompt:\n${out}`);
    }
    await sleep(20);
  }
  const url = out.match(/http:\/\/\S+\/authorize\?\S+/)?.[0];
  assert.ok(url, `login ${kind}: no authorize URL:\n${out}`);
  const res = await fetch(url, { redirect: 'manual' });
  assert.equal(res.status, 302, `mock /authorize: ${await res.text()}`);
  const loc = new URL(res.headers.get('location'));
  const code = loc.searchParams.get('code'), state = loc.searchParams.get('state');
  assert.ok(code && state, `the redirect has code and state: ${loc}`);
  p.stdin.end(kind === 'claude' ? `${code}#${state}\n` : `${loc}\n`);
  const rc = await Promise.race([exit, sleep(10000).then(() => 'timeout')]);
  if (rc === 'timeout') p.kill('SIGKILL');
  assert.equal(rc, 0, `login ${kind} exited ${rc}:\n${out}`);
  assert.ok(out.includes(`Stored as account "${label}"`), out);
  assert.ok(!/mockat\.|rt-(claude|codex)/.test(out), `no token in the login's output:\n${out}`);
}

async function acctSetupOnce() {
  const oauth = await startListening(OAUTH_BIN, ['--upstream-port', String(MOCK_PORT)], 'mock_oauth');
  oauthProc = oauth.p;
  const oauthUrl = `http://127.0.0.1:${oauth.port}`;
  const stateDir = path.join(tmpRoot, 'acct-state');
  const env = acctEnv(oauthUrl, stateDir);
  await acctLogin(env, 'claude', 'cl');
  await acctLogin(env, 'codex', 'cx');
  for (const f of ['cl', 'cx']) {
    const txt = fs.readFileSync(path.join(stateDir, 'accounts', `${f}.json`), 'utf8');
    assert.ok(txt.includes('"sealed":"') && !txt.includes('mockat.'), `${f}.json keeps its tokens sealed: ${txt}`);
  }
  const port = await freePort();
  ACCT_URL = `http://127.0.0.1:${port}`;
  const cfgPath = path.join(tmpRoot, 'llmproxy-acct.json');
  fs.writeFileSync(cfgPath, JSON.stringify({
    listen: `127.0.0.1:${port}`,
    api_keys: [CLIENT_KEY],
    providers: [
      { name: 'claude-sub', type: 'claude-account', base_url: MOCK_URL },
      { name: 'codex-sub', type: 'codex-account', base_url: `${MOCK_URL}/backend-api/codex` },
    ],
    // the model name goes upstream as it is; the mock's scenario is its
    // last word ("text")
    models: { 'cl-*': 'claude-sub', 'cx-*': 'codex-sub' },
  }, null, 2));
  acctProxyProc = spawn(LLMPROXY_BIN, ['-c', cfgPath], { cwd: ROOT, env, stdio: ['ignore', 'pipe', 'pipe'] });
  // its log lands in the main proxy's, so a failing test shows it
  acctProxyProc.stderr.on('data', (d) => { proxyLog += d; });
  acctProxyProc.stdout.on('data', (d) => { proxyLog += d; });
  const deadline = Date.now() + 10000;
  for (;;) {
    if (acctProxyProc.exitCode !== null) throw new Error(`account proxy exited (${acctProxyProc.exitCode}):\n${proxyLog}`);
    try {
      await new Promise((resolve, reject) => {
        const s = net.connect(port, '127.0.0.1', () => { s.end(); resolve(); });
        s.on('error', reject);
      });
      break;
    } catch {
      if (Date.now() > deadline) throw new Error(`account proxy not listening on ${port}`);
      await sleep(50);
    }
  }
}

function acctSetup() {
  acctSetupP ??= acctSetupOnce();
  return acctSetupP;
}

// The mock's log of credentials for this model: the account's access
// token ("mockat.<kind>.<serial>.<expiry>"), never the client's key.
async function acctCreds(model, kind) {
  const creds = await mockCreds(model);
  assert.ok(creds.length >= 1, `the mock saw a request for ${model}`);
  for (const c of creds) assert.match(c, new RegExp(`^mockat\\.${kind}\\.\\d+\\.\\d+$`), `the ${kind} account's token`);
  return creds;
}

// The last request the mock saw (GET /_last) is the account's: the headers
// and body fields that kind's own client sends.
async function acctLastRequest(model, kind) {
  const e = parseEcho(await (await fetch(`${MOCK_URL}/_last`)).text());
  assert.equal(e.body.model, model, 'the last upstream request is this test\'s');
  assert.match(e.headers.authorization, new RegExp(`^Bearer mockat\\.${kind}\\.`));
  assert.ok(!e.raw.includes(CLIENT_KEY), 'the client key is not forwarded');
  if (kind === 'claude') {
    assert.equal(e.target, '/v1/messages?beta=true');
    assert.ok(e.headers['anthropic-beta'].split(',').map((s) => s.trim()).includes('oauth-2025-04-20'), e.headers['anthropic-beta']);
    assert.equal(e.headers['x-app'], 'cli');
    assert.match(e.headers['user-agent'], /^claude-cli\//);
    assert.equal(e.headers['x-api-key'], undefined);
    const sys = e.body.system;
    assert.equal(Array.isArray(sys) ? sys[0].text : sys, 'You are Claude Code, Anthropic\'s official CLI for Claude.');
  } else {
    assert.equal(e.target, '/backend-api/codex/responses');
    assert.equal(e.headers['chatgpt-account-id'], 'mock-account');
    assert.equal(e.headers.originator, 'codex_cli_rs');
    assert.match(e.headers['user-agent'], /^codex_cli_rs\//);
    assert.equal(e.body.stream, true, 'always streamed upstream');
    assert.equal(e.body.store, false);
    assert.equal(typeof e.body.instructions, 'string');
  }
  await sleep(150); // the access log is flushed every 100 ms
  assert.ok(!/mockat\.|rt-(claude|codex)/.test(proxyLog), 'no token in the proxy\'s log');
  return e;
}

// The openai SDK (chat.completions) to each account, plain and streamed:
// the mock's text, finish_reason "stop"; a Codex answer is streamed
// upstream either way and put together for the plain client.
for (const [kind, up] of [['claude', 'ant'], ['codex', 'rsp']]) {
  for (const stream of [false, true]) {
    test(`openai SDK -> ${kind}-account: ${stream ? 'streamed text' : 'text'}`, 'account', async () => {
      await acctSetup();
      const model = `${kind === 'claude' ? 'cl' : 'cx'}-sdk${stream ? '-s' : ''}-text`;
      const exp = await expected(up, 'text', kind === 'codex' ? true : stream);
      const c = new OpenAI({ apiKey: CLIENT_KEY, baseURL: `${ACCT_URL}/v1`, maxRetries: 0, timeout: 20000 });
      const messages = [{ role: 'user', content: PROMPT }];
      let text = '', finish = null;
      if (stream) {
        const s = await c.chat.completions.create({ model, messages, stream: true });
        for await (const ch of s) {
          text += ch.choices[0]?.delta?.content || '';
          if (ch.choices[0]?.finish_reason) finish = ch.choices[0].finish_reason;
        }
      } else {
        const r = await c.chat.completions.create({ model, messages });
        text = r.choices[0].message.content;
        finish = r.choices[0].finish_reason;
        assert.ok(r.usage && r.usage.completion_tokens > 0, `usage: ${JSON.stringify(r.usage)}`);
      }
      assert.equal(text, exp.text, 'the mock\'s answer');
      assert.equal(finish, 'stop');
      assert.equal((await acctCreds(model, kind)).length, 1, 'one upstream request');
      await acctLastRequest(model, kind);
    });
  }
}

// Claude Code (-p) and the Codex CLI (exec) with the proxy as their API:
// the proxy swaps the client key for the account's token and shape.
if (!NO_CLI) {
  test('claude-code CLI -> claude-account: -p text', 'account', async () => {
    await acctSetup();
    const home = fs.mkdtempSync(path.join(tmpRoot, 'claude-home-'));
    const work = fs.mkdtempSync(path.join(tmpRoot, 'claude-work-'));
    const model = 'cl-cc-text';
    const exp = await expected('ant', 'text', true);
    const r = await runCmd(CLAUDE_BIN, ['-p', 'say hi', '--model', model], {
      cwd: work,
      env: cleanEnv({
        HOME: home,
        XDG_CONFIG_HOME: path.join(home, '.config'),
        ANTHROPIC_BASE_URL: ACCT_URL,
        ANTHROPIC_API_KEY: CLIENT_KEY,
        CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC: '1',
        DISABLE_AUTOUPDATER: '1',
        DISABLE_TELEMETRY: '1',
        DISABLE_ERROR_REPORTING: '1',
        CI: '1',
      }),
    }, CLI_TIMEOUT_MS - 5000);
    assert.ok(r.stdout.includes(exp.text.trim()), `stdout must contain the mock's answer ${JSON.stringify(exp.text)}\n${cliResultMessage(r)}`);
    assert.equal(r.code, 0, cliResultMessage(r));
    await acctCreds(model, 'claude');
    await acctLastRequest(model, 'claude');
  }, CLI_TIMEOUT_MS);

  test('codex CLI -> codex-account: exec text', 'account', async () => {
    await acctSetup();
    const model = 'cx-codex-text';
    const exp = await expected('rsp', 'text', true);
    const r = await codexRun(model, { baseUrl: ACCT_URL });
    assert.ok(r.stdout.includes(exp.text.trim()) || r.stderr.includes(exp.text.trim()),
      `output must contain the mock's answer ${JSON.stringify(exp.text)}\n${cliResultMessage(r)}`);
    assert.equal(r.code, 0, cliResultMessage(r));
    await acctCreds(model, 'codex');
    await acctLastRequest(model, 'codex');
  }, CLI_TIMEOUT_MS);
}

// ------------------------------------------------------------ Responses store

// previous_response_id served by the proxy for upstreams that have no
// stored state: turn 2 must reach the mock with turn 1 in its history.
for (const up of ['ant', 'gem']) {
  test(`responses -> ${up}: previous_response_id continues a stored conversation`, 'matrix', async () => {
    const c = openai();
    const model = `${up}-echo`;
    const r1 = await c.responses.create({ model, input: 'First turn', instructions: 'Be brief.' });
    const t1 = r1.output_text;
    parseEcho(t1);
    const r2 = await c.responses.create({ model, input: 'Second turn', previous_response_id: r1.id });
    assert.notEqual(r2.id, r1.id, 'a new response id');
    assert.equal(r2.previous_response_id, r1.id, 'previous_response_id echoed');
    const e2 = parseEcho(r2.output_text);
    let turns;
    if (up === 'ant') {
      assert.equal(e2.body.system, undefined, 'instructions are not carried over');
      turns = e2.body.messages.map((m) => [m.role, contentText(m.content)]);
      assert.deepEqual(turns, [['user', 'First turn'], ['assistant', t1], ['user', 'Second turn']]);
    } else {
      assert.equal(e2.body.systemInstruction, undefined, 'instructions are not carried over');
      turns = e2.body.contents.map((m) => [m.role, m.parts.map((p) => p.text).join('')]);
      assert.deepEqual(turns, [['user', 'First turn'], ['model', t1], ['user', 'Second turn']]);
    }
    await assert.rejects(
      c.responses.create({ model, input: 'x', previous_response_id: 'resp_never_stored' }),
      (e) => e.status === 404 && e.code === 'previous_response_not_found' && e.param === 'previous_response_id',
    );
  });
}

// ------------------------------------------------------------ admin page

adminTests(test, () => ({ url: PROXY_URL, adminKey: ADMIN_KEY, clientKey: CLIENT_KEY, tmpRoot }));

// ------------------------------------------------------------ runner

function withTimeout(p, ms, name) {
  let t;
  return Promise.race([
    p.finally(() => clearTimeout(t)),
    new Promise((_, rej) => { t = setTimeout(() => rej(new Error(`timeout after ${ms} ms: ${name}`)), ms); }),
  ]);
}

function indent(s, n = 4) { return String(s).split('\n').map((l) => ' '.repeat(n) + l).join('\n'); }

async function main() {
  process.on('unhandledRejection', (e) => { /* reported by the test that caused it */ void e; });
  try {
    await startMock();
    await startProxy();
  } catch (e) {
    console.error(`e2e: setup failed: ${e.message}`);
    console.error('--- proxy stderr\n' + proxyLog);
    await stopAll();
    console.log('0 passed, 1 failed');
    process.exit(1);
  }
  console.log(`e2e: mock on ${MOCK_PORT}, proxy on ${PROXY_PORT}${FILTER ? `; filter ${JSON.stringify(FILTER)}` : ''}${NO_CLI ? '; no CLIs' : ''}`);
  const versions = ['openai', '@anthropic-ai/sdk', '@google/genai', '@anthropic-ai/claude-code', '@openai/codex', '@google/gemini-cli']
    .map((p) => { try { return `${p}@${JSON.parse(fs.readFileSync(path.join(HERE, 'node_modules', p, 'package.json'))).version}`; } catch { return `${p}@?`; } });
  console.log(`e2e: ${versions.join(' ')}; node ${process.version}`);

  const results = [];
  const t0all = Date.now();
  for (const t of tests) {
    if (FILTER && !t.name.includes(FILTER)) continue;
    const logFrom = proxyLog.length;
    const t0 = Date.now();
    let err = null;
    try { await withTimeout(Promise.resolve().then(t.fn), t.timeout, t.name); } catch (e) { err = e; }
    const ms = Date.now() - t0;
    if (err || VERBOSE) await sleep(20); // let the proxy's last log lines arrive
    const slice = proxyLog.slice(logFrom);
    results.push({ ...t, err, ms });
    const tag = '';
    if (!err) {
      console.log(`ok   ${t.name}${tag} (${ms} ms)`);
      if (VERBOSE && slice) console.log(indent(slice.trimEnd()));
    } else {
      console.log(`FAIL ${t.name}${tag} (${ms} ms)`);
      console.log(indent(err.stack || err.message || String(err)).split('\n').slice(0, 40).join('\n'));
      console.log(indent('--- proxy stderr during this test:\n' + (slice.trimEnd() || '(nothing)')).split('\n').slice(0, 60).join('\n'));
    }
    if (proxyProc.exitCode !== null || proxyProc.signalCode !== null) {
      console.log(`e2e: the proxy died (${proxyProc.exitCode ?? proxyProc.signalCode}) during "${t.name}"; restarting it`);
      console.log(indent(proxyLog.slice(logFrom)));
      try { await startProxy(); } catch (e) { console.log(`e2e: restart failed: ${e.message}`); break; }
    }
  }

  const nPass = results.filter((r) => !r.err).length, nFail = results.length - nPass;

  // Pass/fail table, one row per "client -> upstream" (the test name before
  // the colon; names without that shape are rows of their own), cells
  // "passed/total", rows in registration order.
  const rows = new Map();
  for (const r of results) {
    const m = r.name.match(/^(.+? -> \S+): (.*)$/);
    const key = m ? m[1] : r.name.replace(/ \(.*$/, '');
    if (!rows.has(key)) rows.set(key, { group: r.group, pass: 0, total: 0, ms: 0, failed: [] });
    const row = rows.get(key);
    row.total++;
    row.ms += r.ms;
    if (!r.err) row.pass++; else row.failed.push(m ? m[2] : r.name);
  }
  console.log('\n==== summary (client -> upstream: passed/total)');
  for (const [k, v] of rows) {
    console.log(`${`[${v.group}]`.padEnd(9)} ${k.padEnd(44)} ${`${v.pass}/${v.total}`.padStart(5)} ${`${(v.ms / 1000).toFixed(1)} s`.padStart(7)}${v.failed.length ? '   failed: ' + v.failed.join('; ') : ''}`);
  }
  if (nFail) {
    console.log('\n==== proxy stderr (full, last 400 lines)');
    console.log(proxyLog.split('\n').slice(-400).join('\n'));
  }
  await stopAll();
  // keep the artifacts (the admin page's screenshot), drop the rest
  for (const f of fs.readdirSync(tmpRoot)) {
    if (f !== 'artifacts') fs.rmSync(path.join(tmpRoot, f), { recursive: true, force: true });
  }
  if (fs.existsSync(path.join(tmpRoot, 'artifacts'))) console.log(`e2e: artifacts in ${path.join(tmpRoot, 'artifacts')}`);
  else fs.rmSync(tmpRoot, { recursive: true, force: true });
  console.log(`e2e: ${results.length} tests in ${((Date.now() - t0all) / 1000).toFixed(1)} s`);
  console.log(`${nPass} passed, ${nFail} failed`);
  process.exit(nFail ? 1 : 0);
}

main().catch(async (e) => {
  console.error(e);
  console.error('--- proxy stderr\n' + proxyLog);
  await stopAll();
  console.log('0 passed, 1 failed');
  process.exit(1);
});
