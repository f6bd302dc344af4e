#!/usr/bin/env node
// Structured output side by side: qwen3's JSON-schema constraint against llama.cpp's grammar sampling
// (llama-completion --json-schema-file, its json-schema-to-grammar converter and GBNF sampler), on the
// schema corpus of tests/grammar (ours and the JSON Schema Test Suite, as loadCorpus() reads it).
//
//   node bench/compare_llama_grammar.mjs --llama-dir LLAMA/build --model DIR --gguf FILE
//        [--part coverage|speed|both] [--quant q8] [--max-tokens 128] [--speed-schemas 6] [--rounds 3]
//        [--threads 2] [--limit N] [--json OUT]
//
// DIR is a Hugging Face checkpoint folder and FILE the same weights as GGUF (qwen3 export-gguf, then
// llama-quantize for Q8_0), so both engines sample from the same distribution.
//
// coverage: every schema once per engine, temperature 1, seed 1, up to --max-tokens. Each run is
//   refused (an error before generating), cut (max-tokens reached), or finished; a finished output
//   is parsed and validated with ajv (ajv-formats) under the schema as written. Reported per engine:
//   accepted, refused, finished valid, finished invalid, cut.
// speed: on the first --speed-schemas schemas that both engines accept, decode tok/s with the schema
//   and without it (ignore-eos), alternating llama.cpp / qwen3 for --rounds rounds; medians.
//   llama.cpp: generated tokens / (eval time + sampling time) from its perf log (sampling time
//   includes the grammar); qwen3: `qwen3 serve`, a streamed /v1/completions with logprobs, the tokens
//   after the first divided by the time from the first to the last (batch 1 both).
// Nothing here is hard-coded: every figure is measured in this run. llama.cpp is not part of this
// repository: point --llama-dir at your own build (llama-completion).
import { spawn, spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { createRequire } from 'node:module';
import { loadCorpus } from '../tests/server/structured_util.mjs';
import { sseEvents } from './sse.mjs';

const require = createRequire(import.meta.url);
const args = Object.fromEntries(process.argv.slice(2).reduce((acc, a, i, all) => {
  if (a.startsWith('--')) acc.push([a.slice(2), all[i + 1]]);
  return acc;
}, []));
for (const need of ['llama-dir', 'model', 'gguf']) {
  if (!args[need]) { console.error(`compare_llama_grammar: --${need} is required (see the header)`); process.exit(2); }
}
const part = args.part ?? 'both';
const maxTokens = Number(args['max-tokens'] ?? 128);
const threads = String(args.threads ?? 2);
const rounds = Number(args.rounds ?? 3);
const speedCount = Number(args['speed-schemas'] ?? 6);
const bin = args.bin ?? 'build/qwen3';
const PROMPT = 'Reply with one JSON value:';
const llamaCompletion = ['bin', '', 'build/bin'].map((d) => path.join(args['llama-dir'], d, 'llama-completion'))
  .find((p) => fs.existsSync(p));
if (!llamaCompletion) { console.error(`no llama-completion under ${args['llama-dir']}`); process.exit(2); }

const Ajv = require('ajv').default, Ajv2020 = require('ajv/dist/2020').default, addFormats = require('ajv-formats').default;
const ajvs = Object.fromEntries([[7, Ajv], [2020, Ajv2020]].map(([d, C]) => {
  const a = new C({ strict: false, allErrors: false, validateFormats: true });
  addFormats(a);
  return [d, a];
}));
function validates(c, text) {
  let v;
  try { v = JSON.parse(text); } catch { return false; }
  try { return ajvs[c.draft].compile(c.schema)(v); } catch { return false; }
}

const work = fs.mkdtempSync(path.join(os.tmpdir(), 'qwen3_cmp_grammar_'));

// One llama-completion run: { refused, error, text, tokens, tok_s }.
function llama(c, seed, constrained) {
  const cmd = ['-m', args.gguf, '-p', PROMPT, '-n', String(maxTokens), '--temp', '1', '--seed', String(seed),
               '-t', threads, '-tb', threads, '-no-cnv', '--no-display-prompt', '--no-warmup', '-c', '1024'];
  if (constrained) {
    const f = path.join(work, 'schema.json');
    fs.writeFileSync(f, JSON.stringify(c.schema));
    cmd.push('-jf', f);
  } else {
    cmd.push('--ignore-eos');
  }
  const r = spawnSync(llamaCompletion, cmd, { encoding: 'utf8', maxBuffer: 64 << 20, timeout: 600000 });
  const log = `${r.stderr ?? ''}`;
  const grab = (re) => { const m = log.match(re); return m ? Number(m[1]) : null; };
  const evalMs = grab(/perf_print:\s+eval time =\s+([\d.]+) ms/), sampleMs = grab(/sampling time =\s+([\d.]+) ms/);
  const runs = grab(/perf_print:\s+eval time =\s+[\d.]+ ms \/\s+(\d+) runs/);
  if (r.status !== 0 || evalMs === null) {
    const lines = log.split('\n').filter((l) => /error|failed|exception|parse/i.test(l));
    return { refused: true, error: (lines.at(-1) ?? `exit ${r.status}`).slice(0, 160) };
  }
  const tokens = runs + 1;  // the last sampled token is not evaluated
  const text = r.stdout.replace(/ \[end of text\]\s*$/, '').trim();  // printed at end of generation
  return { refused: false, text, tokens, cut: tokens >= maxTokens, tok_s: (runs * 1000) / (evalMs + (sampleMs ?? 0)) };
}

async function startServer() {
  const extra = ['--threads', threads, ...(args.quant ? ['--quant', args.quant] : []), '--max-batch', '1'];
  const proc = spawn(bin, ['serve', '--model', args.model, '--port', '0', '--quiet', ...extra], { stdio: ['ignore', 'ignore', 'pipe'] });
  let err = '';
  const logFile = args['server-log'] ? fs.createWriteStream(args['server-log']) : null;
  if (logFile) proc.stderr.on('data', (d) => logFile.write(d));
  proc.on('exit', (code, sig) => { if (code || sig) console.error(`qwen3 serve exited: code ${code}, signal ${sig}`); });
  const port = await new Promise((resolve, reject) => {
    proc.stderr.on('data', (d) => {
      err += d;
      const m = err.match(/listening on http:\/\/127\.0\.0\.1:(\d+)/);
      if (m) resolve(Number(m[1]));
    });
    proc.on('exit', (code) => reject(new Error(`server exited ${code}: ${err}`)));
  });
  return { url: `http://127.0.0.1:${port}`, stop: () => proc.kill('SIGTERM') };
}

// One streamed /v1/completions: { refused, error, text, tokens, cut, tok_s }.
async function qwen3(url, c, seed, constrained) {
  const body = { prompt: PROMPT, max_tokens: maxTokens, temperature: 1, seed, stream: true, logprobs: 0 };
  if (constrained) body.response_format = { type: 'json_schema', json_schema: { name: 'schema', schema: c.schema } };
  else body.ignore_eos = true;
  // llama-completion runs synchronously in between, so a kept-alive connection may have been closed
  // by the server meanwhile without Node noticing: such a request is sent again once.
  const send = () => fetch(`${url}/v1/completions`, { method: 'POST', headers: { 'Content-Type': 'application/json' }, body: JSON.stringify(body) });
  let res;
  try { res = await send(); } catch (e) {
    if (e?.cause?.code !== 'UND_ERR_SOCKET') throw e;
    res = await send();
  }
  if (res.status !== 200) return { refused: true, error: (await res.text()).slice(0, 160) };
  const times = [];
  let text = '', finish = null;
  for await (const { now, data: j } of sseEvents(res)) {
    if (j.error) return { refused: true, error: JSON.stringify(j.error).slice(0, 160) };
    text += j.choices?.[0]?.text ?? '';
    finish = j.choices?.[0]?.finish_reason ?? finish;
    const n = j.choices?.[0]?.logprobs?.tokens?.length ?? 0;
    for (let t = 0; t < n; ++t) times.push(now);
  }
  const tok_s = times.length > 1 ? ((times.length - 1) * 1000) / (times.at(-1) - times[0]) : null;
  return { refused: false, text: text.trim(), tokens: times.length, cut: finish === 'length', tok_s };
}

const median = (v) => [...v].sort((a, b) => a - b)[Math.floor(v.length / 2)];
const cases = loadCorpus().slice(0, args.limit ? Number(args.limit) : undefined);
const results = { coverage: {}, speed: [] };
const srv = await startServer();
try {
  const both = [];
  if (part === 'coverage' || part === 'both') {
    const t0 = Date.now();
    const tally = () => ({ accepted: 0, refused: 0, valid: 0, invalid: 0, cut: 0, examples: { refused: [], invalid: [] } });
    const sum = { llama: tally(), qwen3: tally() };
    const wall = { llama: 0, qwen3: 0 };
    for (const c of cases) {
      if (args.verbose) console.error(`schema: ${c.name}`);
      let t = performance.now();
      const r = { llama: llama(c, 1, true) };
      wall.llama += performance.now() - t;
      t = performance.now();
      r.qwen3 = await qwen3(srv.url, c, 1, true);
      wall.qwen3 += performance.now() - t;
      for (const [eng, x] of Object.entries(r)) {
        const s = sum[eng];
        if (x.refused) { s.refused += 1; s.examples.refused.push(`${c.name}: ${x.error}`); continue; }
        s.accepted += 1;
        if (x.cut) s.cut += 1;
        else if (validates(c, x.text)) s.valid += 1;
        else { s.invalid += 1; s.examples.invalid.push(`${c.name}: ${x.text.slice(0, 120)}`); }
      }
      if (!r.llama.refused && !r.qwen3.refused) both.push(c);
    }
    results.coverage = sum;
    console.log(`coverage: ${cases.length} schemas, temperature 1, seed 1, max ${maxTokens} tokens (${((Date.now() - t0) / 1000).toFixed(0)} s)`);
    console.log('| engine | accepted | refused | finished, valid | finished, invalid | cut by max tokens | wall s (all schemas) |');
    console.log('|---|---|---|---|---|---|---|');
    for (const [eng, s] of Object.entries(sum))
      console.log(`| ${eng} | ${s.accepted} | ${s.refused} | ${s.valid} | ${s.invalid} | ${s.cut} | ${(wall[eng] / 1000).toFixed(0)} |`);
    for (const [eng, s] of Object.entries(sum)) {
      for (const e of s.examples.invalid.slice(0, 10)) console.log(`  ${eng} invalid: ${e}`);
      for (const e of s.examples.refused.slice(0, args.verbose ? 1000 : 10)) console.log(`  ${eng} refused: ${e}`);
    }
  } else {
    both.push(...cases.filter((c) => !c.name.startsWith('suite/')));
  }
  if (part === 'speed' || part === 'both') {
    const picked = both.filter((c) => !c.name.startsWith('suite/'));
    let rows = 0;
    console.log(`speed: decode tok/s at batch 1, ${rounds} alternating rounds, max ${maxTokens} tokens, medians`);
    console.log('| schema | llama.cpp free | llama.cpp schema | ratio | qwen3 free | qwen3 schema | ratio | qwen3 / llama.cpp (schema) |');
    console.log('|---|---|---|---|---|---|---|---|');
    for (const c of picked) {
      if (rows >= speedCount) break;
      const m = { lf: [], ls: [], qf: [], qs: [] };
      let refused = false;
      for (let r = 0; r < rounds && !refused; ++r) {
        const seed = 1 + r;
        const lf = llama(c, seed, false), ls = llama(c, seed, true);
        const qf = await qwen3(srv.url, c, seed, false), qs = await qwen3(srv.url, c, seed, true);
        refused = ls.refused || qs.refused;  // a schema one engine refuses is no speed row
        for (const [k, x] of Object.entries({ lf, ls, qf, qs })) if (!x.refused && x.tok_s) m[k].push(x.tok_s);
      }
      if (refused) continue;
      ++rows;
      const med = Object.fromEntries(Object.entries(m).map(([k, v]) => [k, v.length ? median(v) : NaN]));
      results.speed.push({ schema: c.name, ...med, runs: m });
      const f = (x) => x.toFixed(1);
      console.log(`| ${c.name} | ${f(med.lf)} | ${f(med.ls)} | ${(med.ls / med.lf).toFixed(3)} | ${f(med.qf)} | ${f(med.qs)} | ` +
                  `${(med.qs / med.qf).toFixed(3)} | ${(med.qs / med.ls).toFixed(2)} |`);
    }
  }
} finally {
  srv.stop();
  fs.rmSync(work, { recursive: true, force: true });
}
if (args.json) fs.writeFileSync(args.json, JSON.stringify(results, null, 1));
