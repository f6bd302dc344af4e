#!/usr/bin/env node
// Structured-output overhead: decode tokens/s of requests constrained by a JSON schema against the
// same requests unconstrained, at batch 1 and batch 16 (16 concurrent requests), on `qwen3 serve`.
// Every request is a streamed /v1/completions with logprobs 0, so each token arrives as its own
// event with its time. The decode rate of a round is the number of tokens that arrive between the
// moment every request has its first token and the moment the first request ends, divided by that
// window: prefill is left out, and at batch 16 all 16 sequences decode for the whole window.
// Rounds alternate constrained / unconstrained; the figure is the median of --rounds rounds each.
//
//   node bench/structured_bench.mjs --bin build/qwen3 --model /tmp/m06 [--serve-args "--quant q8 --max-batch 16"]
//        [--levels 1,16] [--max-tokens 64] [--rounds 3]
//
// The schema's string has minLength 400, so no constrained request can end before max_tokens; the
// unconstrained ones use ignore_eos (which a constrained request may not). Target (issue 16):
// constrained >= 0.97x unconstrained.
import { spawn } from 'node:child_process';
import { sseEvents } from './sse.mjs';

const args = Object.fromEntries(process.argv.slice(2).reduce((acc, a, i, all) => {
  if (a.startsWith('--')) acc.push([a.slice(2), all[i + 1]]);
  return acc;
}, []));
const levels = (args.levels ?? '1,16').split(',').map(Number);
const maxTokens = Number(args['max-tokens'] ?? 64);
const rounds = Number(args.rounds ?? 3);

const SCHEMA = {
  type: 'object',
  properties: {
    id: { type: 'integer', minimum: 0, maximum: 100000 },
    kind: { enum: ['note', 'task', 'event'] },
    tags: { type: 'array', items: { type: 'string', maxLength: 12 }, maxItems: 4 },
    done: { type: 'boolean' },
    text: { type: 'string', minLength: 400 },
  },
  required: ['id', 'kind', 'tags', 'done', 'text'],
  additionalProperties: false,
};

async function startServer() {
  const extra = (args['serve-args'] ?? '--quant q8 --max-batch 16').split(' ').filter(Boolean);
  const proc = spawn(args.bin ?? 'build/qwen3', ['serve', '--model', args.model, '--port', '0', '--quiet', ...extra],
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
  return { url: `http://127.0.0.1:${port}`, line: err.trim(), stop: () => proc.kill('SIGTERM') };
}

// One streamed request; the arrival time (ms) of each token, and the text.
async function one(url, k, constrained) {
  const body = { prompt: `Record ${k}: write a JSON object describing a note about item ${k}.`, max_tokens: maxTokens,
                 temperature: 1, seed: k, stream: true, logprobs: 0 };
  if (constrained) body.response_format = { type: 'json_schema', json_schema: { name: 'record', schema: SCHEMA } };
  else body.ignore_eos = true;
  const res = await fetch(`${url}/v1/completions`, { method: 'POST', headers: { 'Content-Type': 'application/json' }, body: JSON.stringify(body) });
  if (res.status !== 200) throw new Error(`HTTP ${res.status}: ${await res.text()}`);
  const times = [];
  let text = '';
  for await (const { now, data: j } of sseEvents(res)) {
    text += j.choices?.[0]?.text ?? '';
    const n = j.choices?.[0]?.logprobs?.tokens?.length ?? 0;
    for (let t = 0; t < n; ++t) times.push(now);
  }
  if (times.length !== maxTokens) throw new Error(`got ${times.length} tokens, wanted ${maxTokens}: ${text}`);
  return { times, text };
}

// Decode tokens/s of one round of `n` concurrent requests (see the header).
async function round(url, n, constrained, salt) {
  const rs = await Promise.all(Array.from({ length: n }, (_, k) => one(url, salt * 100 + k, constrained)));
  const start = Math.max(...rs.map((r) => r.times[0])), end = Math.min(...rs.map((r) => r.times.at(-1)));
  let tokens = 0;
  for (const r of rs) tokens += r.times.filter((t) => t > start && t <= end).length;
  return { tps: (tokens * 1000) / (end - start), sample: rs[0].text };
}

const median = (v) => [...v].sort((a, b) => a - b)[Math.floor(v.length / 2)];

const srv = await startServer();
try {
  console.log(srv.line.split('\n').filter((l) => !/listening/.test(l)).slice(-3).join('\n'));
  await round(srv.url, 1, true, 999);  // warm up (and compile the grammar once: the cache keeps it)
  console.log(`max_tokens ${maxTokens}, ${rounds} alternating rounds per level, decode tok/s (median)`);
  console.log('| batch | unconstrained tok/s | JSON schema tok/s | ratio | rounds (unconstrained / schema) |');
  console.log('|---|---|---|---|---|');
  for (const n of levels) {
    const free = [], schema = [];
    let sample = '';
    for (let r = 0; r < rounds; ++r) {
      free.push((await round(srv.url, n, false, r)).tps);
      const s = await round(srv.url, n, true, r);
      schema.push(s.tps);
      sample = s.sample;
    }
    const f = median(free), s = median(schema);
    console.log(`| ${n} | ${f.toFixed(1)} | ${s.toFixed(1)} | ${(s / f).toFixed(3)} | ${free.map((x) => x.toFixed(1)).join(' ')} / ` +
                `${schema.map((x) => x.toFixed(1)).join(' ')} |`);
    if (args.verbose) console.log(`  a constrained output: ${JSON.stringify(sample)}`);
  }
} finally {
  srv.stop();
}
