// Shared by the server tests: a tiny test model, a `qwen3 serve` on a free loopback port, checks.
import { spawn, execFileSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';

export const BIN = process.env.QWEN3_BIN;
export const SANITIZED = !!process.env.QWEN3_SANITIZED;

let passed = 0, failed = 0;
export function check(name, cond, detail = '') {
  if (cond) passed++;
  else {
    failed++;
    console.log(`FAIL ${name}: ${typeof detail === 'string' ? detail : JSON.stringify(detail)}`);
  }
}
export function finish() {
  console.log(`${passed} passed, ${failed} failed`);
  process.exitCode = failed ? 1 : 0;
}

export function tmpdir(prefix) { return fs.mkdtempSync(path.join(os.tmpdir(), prefix)); }

// The tiny model (real tokenizer, random weights). Exits 77 (skip) without tokenizer files.
export function makeTinyModel(dir, seed = 1) {
  execFileSync(BIN, ['make-test-model', '--preset', 'tiny', '--seed', String(seed), '--out', dir], { stdio: 'pipe' });
  if (!fs.existsSync(path.join(dir, 'tokenizer.json'))) {
    console.log('SKIP: no tokenizer files (run npm ci)');
    process.exit(77);
  }
  return dir;
}

// A copy of `src` whose final RMSNorm weight is zero: every logit is exactly 0, so logit_bias alone
// decides greedy decoding, and a test can make the model write a chosen text (see scriptedParams).
export function makeZeroLogitModel(src, dir) {
  fs.mkdirSync(dir, { recursive: true });
  for (const f of fs.readdirSync(src)) fs.copyFileSync(path.join(src, f), path.join(dir, f));
  const file = path.join(dir, 'model.safetensors');
  const buf = fs.readFileSync(file);
  const n = Number(buf.readBigUInt64LE(0));
  const header = JSON.parse(buf.subarray(8, 8 + n).toString('utf8'));
  const t = header['model.norm.weight'];
  if (!t) throw new Error('model.norm.weight not found');
  buf.fill(0, 8 + n + t.data_offsets[0], 8 + n + t.data_offsets[1]);
  fs.writeFileSync(file, buf);
  return dir;
}

// Sampling fields that make the zero-logit model write exactly `ids` (all distinct): token i gets
// bias 100 - 0.1 i, and presence + frequency penalties of 2 each drop a written token by 4, below
// every token still to come. Greedy then writes them in order.
export function scriptedParams(ids) {
  if (new Set(ids).size !== ids.length) throw new Error(`scripted ids must be distinct: ${ids}`);
  const logit_bias = {};
  ids.forEach((id, i) => { logit_bias[id] = 100 - 0.1 * i; });
  return { temperature: 0, logit_bias, presence_penalty: 2, frequency_penalty: 2, max_tokens: ids.length };
}

// Starts `qwen3 serve` on a free port; resolves to { port, url, proc, log() , stop() }.
export function startServer(model, extra = []) {
  return new Promise((resolve, reject) => {
    const proc = spawn(BIN, ['serve', '--model', model, '--port', '0', ...extra], { stdio: ['ignore', 'ignore', 'pipe'] });
    let err = '';
    const timer = setTimeout(() => reject(new Error(`server did not start: ${err}`)), SANITIZED ? 120000 : 30000);
    proc.stderr.on('data', (d) => {
      err += d.toString();
      const m = err.match(/listening on http:\/\/127\.0\.0\.1:(\d+)/);
      if (m && timer) {
        clearTimeout(timer);
        const port = Number(m[1]);
        resolve({
          port, url: `http://127.0.0.1:${port}`, proc,
          log: () => err,
          stop: () => new Promise((res) => {
            if (proc.exitCode !== null) return res(proc.exitCode);
            proc.on('exit', (code) => res(code));
            proc.kill('SIGTERM');
          }),
        });
      }
    });
    proc.on('exit', (code) => reject(new Error(`server exited with ${code}: ${err}`)));
  });
}

export async function metrics(url) {
  const text = await (await fetch(`${url}/metrics`)).text();
  const get = (name) => {
    const m = text.match(new RegExp(`^${name} ([0-9.e+-]+)$`, 'm'));
    return m ? Number(m[1]) : NaN;
  };
  return { text, get };
}

// Polls /metrics until no KV page is in use and nothing runs or waits (or the deadline passes).
export async function waitIdle(url, ms = 5000) {
  const end = Date.now() + ms;
  let m;
  for (;;) {
    m = await metrics(url);
    if ((m.get('qwen3_kv_pages_used') === 0 && m.get('qwen3_requests_running') === 0 &&
         m.get('qwen3_requests_waiting') === 0) || Date.now() > end) return m;
    await new Promise((r) => setTimeout(r, 50));
  }
}
