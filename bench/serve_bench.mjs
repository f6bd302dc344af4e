#!/usr/bin/env node
// Serving benchmark: output tokens/s, time to first token and inter-token latency (p50, p99) at
// several concurrencies, against `qwen3 serve` (started here with --model, or running at --url).
// Every request is a streamed completion with ignore_eos and a fixed max_tokens, and asks for
// logprobs (0 alternatives) so that each token arrives as its own event.
//
//   node bench/serve_bench.mjs --bin build/qwen3 --model /work/main/models/demo-qwen3-0.6b
//        [--levels 1,4,16] [--max-tokens 64] [--requests 2] [--prompt-words 32] [--serve-args "..."]
//        [--json FILE [--label NAME]] [--sampling JSON]
//
// --sampling: fields merged into every request (default greedy: '{"temperature":0}'); e.g. Qwen3's
// generation_config.json '{"temperature":0.6,"top_k":20,"top_p":0.95}' or '{"temperature":1,"top_p":0.95}'.
//
// --json writes every level's figures (the table's columns) and the settings to FILE, for
// bench/plot.py serving; --label names the series in the plot (default: the file's name).
//
// Targets (issue 5): total tok/s at 16 >= 4x the single-request decode speed; p99 ITL at 16 <= 3x
// the single-request p99 ITL.
//
// --workload prefix-ttft: time to first token of requests that share a long prefix (prefix cache).
// One request computes the --prefix-tokens token prefix (ids, not text), then --rounds requests
// each send that prefix plus a different 16-token tail, non-streamed with max_tokens 1, one at a
// time; prints their median time and the cached tokens the server reports. Cold: the same with
// --serve-args "... --no-prefix-cache".
//   node bench/serve_bench.mjs --bin build/qwen3 --model /tmp/m06 --workload prefix-ttft \
//        [--prefix-tokens 2048] [--rounds 5] [--serve-args "--kv-memory 1"]
//
// --workload thinking-chat: the prefix-cache hit rate (cached_tokens / prompt_tokens) of each turn
// of a 3-turn chat through /v1/chat/completions with the model's own chat template, where every
// answer is "<think>\n...</think>\n\n..." (a copy of --model whose logits are all 0, steered by
// logit_bias, writes it) and the client sends back content and reasoning_content as it got them.
//   node bench/serve_bench.mjs --bin build/qwen3 --model /tmp/tiny --workload thinking-chat
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { makeZeroLogitModel, scriptedParams } from '../tests/server/server_util.mjs';
import { sseEvents } from './sse.mjs';

const args = Object.fromEntries(process.argv.slice(2).reduce((acc, a, i, all) => {
  if (a.startsWith('--')) acc.push([a.slice(2), all[i + 1]]);
  return acc;
}, []));
const levels = (args.levels ?? '1,4,16').split(',').map(Number);
const maxTokens = Number(args['max-tokens'] ?? 64);
const perClient = Number(args.requests ?? 2);
const promptWords = Number(args['prompt-words'] ?? 32);
const sampling = JSON.parse(args.sampling ?? '{"temperature":0}');

function pct(v, p) {
  if (!v.length) return NaN;
  const s = [...v].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.floor(p / 100 * s.length))];
}

async function startServer(model = args.model) {
  if (args.url) return { url: args.url, stop: async () => {} };
  const extra = (args['serve-args'] ?? '--max-batch 16 --kv-memory 2').split(' ').filter(Boolean);
  const proc = spawn(args.bin ?? 'build/qwen3', ['serve', '--model', model, '--port', '0', '--quiet', ...extra],
                     { stdio: ['ignore', 'ignore', 'pipe'] });
  let err = '';
  const port = await new Promise((resolve, reject) => {
    proc.stderr.on('data', (d) => {
      err += d;
      const m = err.match(/listening on http:\/\/127\.0\.0\.1:(\d+)/);
      if (m) resolve(Number(m[1]));
    });
    proc.on('exit', (c) => reject(new Error(`server exited ${c}: ${err}`)));
  });
  return { url: `http://127.0.0.1:${port}`, line: err.trim(), stop: async () => proc.kill('SIGTERM') };
}

// One streamed request; returns token arrival times (ms) and the send time.
async function one(url, k) {
  const body = { prompt: `Request ${k}: ` + 'lorem ipsum '.repeat(promptWords / 2), max_tokens: maxTokens,
                 ...sampling, ignore_eos: true, stream: true, logprobs: 0 };
  const t0 = performance.now();
  const res = await fetch(`${url}/v1/completions`, { method: 'POST', headers: { 'Content-Type': 'application/json' }, body: JSON.stringify(body) });
  if (res.status !== 200) throw new Error(`HTTP ${res.status}: ${await res.text()}`);
  const times = [];
  for await (const { now, data } of sseEvents(res)) {
    const n = data.choices?.[0]?.logprobs?.tokens?.length ?? 0;
    for (let t = 0; t < n; ++t) times.push(now);
  }
  if (times.length !== maxTokens) throw new Error(`got ${times.length} tokens, wanted ${maxTokens}`);
  return { t0, times };
}

// Token ids of the prefix-ttft workload: spread over the vocabulary, away from special tokens.
const ids = (n, salt) => Array.from({ length: n }, (_, i) => 1000 + ((i * 7919 + salt * 104729) % 60000));

async function prefixTtft(url) {
  const prefixTokens = Number(args['prefix-tokens'] ?? 2048), rounds = Number(args.rounds ?? 5);
  const prefix = ids(prefixTokens, 1);
  const send = async (prompt) => {
    const t0 = performance.now();
    const res = await fetch(`${url}/v1/completions`, { method: 'POST', headers: { 'Content-Type': 'application/json' },
      body: JSON.stringify({ prompt, max_tokens: 1, temperature: 0, ignore_eos: true }) });
    if (res.status !== 200) throw new Error(`HTTP ${res.status}: ${await res.text()}`);
    const usage = (await res.json()).usage;
    return { ms: performance.now() - t0, cached: usage.prompt_tokens_details?.cached_tokens ?? 0, prompt: usage.prompt_tokens };
  };
  const first = await send([...prefix, ...ids(16, 2)]);
  const rows = [];
  for (let r = 0; r < rounds; ++r) rows.push(await send([...prefix, ...ids(16, 3 + r)]));
  const ms = rows.map((x) => x.ms);
  console.log(`first request (computes the prefix): ${first.ms.toFixed(1)} ms, ${first.prompt} prompt tokens, ${first.cached} cached`);
  console.log(`${rounds} requests sharing the ${prefixTokens}-token prefix: ${ms.map((x) => x.toFixed(1)).join(', ')} ms; ` +
              `median ${pct(ms, 50).toFixed(1)} ms; cached tokens ${rows.map((x) => x.cached).join(', ')} of ${rows[0].prompt}`);
}

async function thinkingChat() {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'qwen3_bench_chat_'));
  const srv = await startServer(makeZeroLogitModel(args.model, dir));
  const post = async (p, body) => (await fetch(`${srv.url}${p}`, { method: 'POST', headers: { 'Content-Type': 'application/json' },
                                                                  body: JSON.stringify(body) })).json();
  const tok = async (text) => (await post('/tokenize', { prompt: text })).tokens;
  const [think, endThink, nn] = [(await tok('<think>'))[0], (await tok('</think>'))[0], (await tok('\n\n'))[0]];
  const messages = [{ role: 'system', content: 'You are a helpful assistant. ' + 'Be brief and exact. '.repeat(20) }];
  const words = ['alpha', 'bravo', 'charlie', 'delta', 'echo', 'foxtrot', 'golf', 'hotel', 'india', 'juliet', 'kilo',
                 'lima', 'mike', 'november', 'oscar', 'papa', 'quebec', 'romeo', 'sierra', 'tango', 'uniform', 'victor'];
  for (let turn = 0; turn < 3; ++turn) {
    messages.push({ role: 'user', content: `Question ${turn + 1}: ` + 'please explain this in detail. '.repeat(8) });
    // The answer: <think>\n + 8 reasoning words + </think> + \n\n + 6 answer words (distinct ids).
    const reasoning = [], answer = [];
    for (let i = 0; i < 8; ++i) reasoning.push((await tok(' ' + words[(turn * 7 + i) % words.length]))[0]);
    for (let i = 0; i < 6; ++i) answer.push((await tok(' ' + words[(turn * 5 + i + 11) % words.length]))[0]);
    const script = [...new Set([think, ...reasoning, endThink, nn, ...answer])];  // distinct ids
    const res = await post('/v1/chat/completions', { model: path.basename(dir), messages, ...scriptedParams(script) });
    if (!res.choices) throw new Error(`turn ${turn + 1}: ${JSON.stringify(res)}`);
    const u = res.usage, msg = res.choices[0].message;
    console.log(`turn ${turn + 1}: prompt ${u.prompt_tokens} tokens, cached ${u.prompt_tokens_details.cached_tokens} ` +
                `(${(100 * u.prompt_tokens_details.cached_tokens / u.prompt_tokens).toFixed(1)}%); reasoning ` +
                `${JSON.stringify(msg.reasoning_content)}, content ${JSON.stringify(msg.content)}`);
    messages.push({ role: 'assistant', content: msg.content, reasoning_content: msg.reasoning_content });
  }
  await srv.stop();
  fs.rmSync(dir, { recursive: true, force: true });
}

if (args.workload === 'thinking-chat') {
  await thinkingChat();
  process.exit(0);
}
const srv = await startServer();
if (srv.line) console.error(srv.line);
if (args.workload === 'prefix-ttft') {
  await prefixTtft(srv.url);
  await srv.stop();
  process.exit(0);
}
await one(srv.url, -1);  // warm-up
const rows = [];
for (const c of levels) {
  const t0 = performance.now();
  const results = (await Promise.all(Array.from({ length: c }, async (_, w) => {
    const out = [];
    for (let r = 0; r < perClient; ++r) out.push(await one(srv.url, w * 1000 + r));
    return out;
  }))).flat();
  const wall = (performance.now() - t0) / 1000;
  const ttft = results.map((r) => r.times[0] - r.t0);
  const itl = results.flatMap((r) => r.times.slice(1).map((t, i) => t - r.times[i]));
  const decode = results.map((r) => (r.times.length - 1) / ((r.times.at(-1) - r.times[0]) / 1000));
  rows.push({ c, tokS: results.length * maxTokens / wall, perSeq: decode.reduce((a, b) => a + b, 0) / decode.length,
              ttft50: pct(ttft, 50), ttft99: pct(ttft, 99), itl50: pct(itl, 50), itl99: pct(itl, 99) });
}
await srv.stop();
console.log(`| concurrency | output tok/s (total) | decode tok/s per sequence | TTFT p50 ms | TTFT p99 ms | ITL p50 ms | ITL p99 ms |`);
console.log(`|---|---|---|---|---|---|---|`);
for (const r of rows)
  console.log(`| ${r.c} | ${r.tokS.toFixed(1)} | ${r.perSeq.toFixed(1)} | ${r.ttft50.toFixed(0)} | ${r.ttft99.toFixed(0)} | ${r.itl50.toFixed(1)} | ${r.itl99.toFixed(1)} |`);
if (args.json) {
  const levelsOut = rows.map((r) => ({ concurrency: r.c, requests: r.c * perClient, output_tok_s: r.tokS,
                                       decode_tok_s_per_sequence: r.perSeq, ttft_p50_ms: r.ttft50, ttft_p99_ms: r.ttft99,
                                       itl_p50_ms: r.itl50, itl_p99_ms: r.itl99 }));
  fs.writeFileSync(args.json, JSON.stringify({
    bench: 'serve_bench', label: args.label ?? null, date: new Date().toISOString(), server: srv.line?.match(/listening on .*/)?.[0] ?? args.url,
    settings: { max_tokens: maxTokens, requests_per_client: perClient, prompt_words: promptWords, sampling,
                serve_args: args.url ? null : (args['serve-args'] ?? '--max-batch 16 --kv-memory 2') },
    levels: levelsOut }, null, 1) + '\n');
}
const single = rows.find((r) => r.c === 1), top = rows.find((r) => r.c === 16);
if (single && top) {
  console.log(`throughput at 16 / single-request decode: ${(top.tokS / single.perSeq).toFixed(2)}x (target >= 4)`);
  console.log(`p99 ITL at 16 / at 1: ${(top.itl99 / single.itl99).toFixed(2)}x (target <= 3)`);
}
