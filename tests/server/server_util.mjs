// Shared by the server tests: a tiny test model, a `qwen3 serve` on a free loopback port, checks.
import { spawn, execFileSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';

export const BIN = process.env.QWEN3_BIN;
export const SANITIZED = !!process.env.QWEN3_SANITIZED;
// A launcher prefix for the server, split on spaces: QWEN3_LAUNCH="mpirun -n 2 --oversubscribe
// --bind-to none" runs `qwen3 serve` tensor-parallel over 2 ranks (mpirun is then the child).
export const LAUNCH = (process.env.QWEN3_LAUNCH ?? '').split(' ').filter((s) => s);

// The processes started by `pid` (children, grandchildren...), from /proc: [{ pid, rank }], rank
// being OMPI_COMM_WORLD_RANK (or PMI_RANK) from the environment, or null.
export function descendants(pid) {
  const parent = new Map();
  for (const d of fs.readdirSync('/proc')) {
    if (!/^\d+$/.test(d)) continue;
    try {
      const stat = fs.readFileSync(`/proc/${d}/stat`, 'utf8');
      parent.set(Number(d), Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]));
    } catch { /* gone */ }
  }
  const out = [];
  const walk = (p) => {
    for (const [c, pp] of parent) {
      if (pp !== p) continue;
      let rank = null;
      try {
        const env = fs.readFileSync(`/proc/${c}/environ`, 'utf8').split('\0');
        const r = env.find((e) => e.startsWith('OMPI_COMM_WORLD_RANK=') || e.startsWith('PMI_RANK='));
        if (r) rank = Number(r.split('=')[1]);
      } catch { /* gone */ }
      out.push({ pid: c, rank });
      walk(c);
    }
  };
  walk(pid);
  return out;
}

// True while `pid` runs (a zombie, dead but not yet reaped, does not count).
export function alive(pid) {
  try {
    const stat = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
    return stat.slice(stat.lastIndexOf(')') + 2)[0] !== 'Z';
  } catch { return false; }
}

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

// The tiny model (real tokenizer, random weights); `extra`: more make-test-model flags (--override
// JSON). Fails without tokenizer files (scripts/test.sh installs them).
export function makeTinyModel(dir, seed = 1, extra = []) {
  execFileSync(BIN, ['make-test-model', '--preset', 'tiny', '--seed', String(seed), '--out', dir, ...extra], { stdio: 'pipe' });
  if (!fs.existsSync(path.join(dir, 'tokenizer.json'))) {
    console.log('FAIL: make-test-model found no tokenizer files (run npm ci at the repository root, or set QWEN3_TOKENIZER_DIR)');
    process.exit(1);
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

// Starts `qwen3 serve` on a free port (under QWEN3_LAUNCH when set); resolves to { port, url,
// proc, ranks, log(), stop(), leftover() }. stop() sends SIGTERM to the server process: under a
// launcher, to rank 0 (which drains, releases the other ranks and ends the job with status 0, as
// one process does; a SIGTERM to mpirun itself kills the job with status 1 by OpenMPI's design),
// falling back to SIGTERM then SIGKILL on the launcher after 40 s each (90 s sanitized). ranks: the rank processes
// ([{ pid, rank }], [] without a launcher); leftover(): those still running, after stop().
export function startServer(model, extra = []) {
  return new Promise((resolve, reject) => {
    const args = ['serve', '--model', model, '--port', '0', ...extra];
    const proc = LAUNCH.length ? spawn(LAUNCH[0], [...LAUNCH.slice(1), BIN, ...args], { stdio: ['ignore', 'ignore', 'pipe'] })
                               : spawn(BIN, args, { stdio: ['ignore', 'ignore', 'pipe'] });
    let err = '';
    let timer = setTimeout(() => { proc.kill('SIGKILL'); reject(new Error(`server did not start: ${err}`)); },
                           SANITIZED ? 120000 : LAUNCH.length ? 60000 : 30000);
    proc.stderr.on('data', (d) => {
      err += d.toString();
      const m = err.match(/listening on http:\/\/127\.0\.0\.1:(\d+)/);
      if (m && timer) {
        clearTimeout(timer);
        timer = null;
        const port = Number(m[1]);
        const ranks = LAUNCH.length ? descendants(proc.pid).filter((p) => p.rank !== null) : [];
        const grace = SANITIZED ? 90000 : 40000;
        const exited = new Promise((res) => {
          if (proc.exitCode !== null || proc.signalCode !== null) res(proc.exitCode ?? proc.signalCode);
          else proc.on('exit', (code, sig) => res(code ?? sig));
        });
        resolve({
          port, url: `http://127.0.0.1:${port}`, proc, ranks,
          log: () => err,
          stop: async () => {
            if (proc.exitCode !== null || proc.signalCode !== null) return proc.exitCode ?? proc.signalCode;
            const rank0 = ranks.find((r) => r.rank === 0);
            if (LAUNCH.length && rank0) {
              try { process.kill(rank0.pid, 'SIGTERM'); } catch { /* gone */ }
              let t;
              const late = new Promise((res) => { t = setTimeout(() => res('late'), grace); });
              const code = await Promise.race([exited, late]);
              clearTimeout(t);
              if (code !== 'late') return code;
              err += `\n[test] the job did not end within ${grace / 1000} s of SIGTERM to rank 0; SIGTERM to the launcher\n`;
            }
            proc.kill('SIGTERM');
            let t2;
            const late2 = new Promise((res) => { t2 = setTimeout(() => res('late'), grace); });
            const code = await Promise.race([exited, late2]);
            clearTimeout(t2);
            if (code !== 'late') return LAUNCH.length && rank0 ? `stopped by SIGTERM to the launcher (${code})` : code;
            proc.kill('SIGKILL');
            await exited;
            return `killed after ${grace / 1000} s`;
          },
          leftover: async () => {
            for (let i = 0; i < 50 && ranks.some((r) => alive(r.pid)); i++) await new Promise((r) => setTimeout(r, 100));
            return ranks.filter((r) => alive(r.pid));
          },
        });
      }
    });
    proc.on('exit', (code) => { if (timer) { clearTimeout(timer); reject(new Error(`server exited with ${code}: ${err}`)); } });
  });
}

// The number of ranks QWEN3_LAUNCH asks for (its -n / -np), 0 without a launcher.
export function launchRanks() {
  const i = LAUNCH.findIndex((a) => a === '-n' || a === '-np' || a === '--np');
  return LAUNCH.length ? (i >= 0 ? Number(LAUNCH[i + 1]) : 1) : 0;
}

// Stops a server from startServer and checks that it ended with status 0 and, under a launcher,
// that none of its ranks is left running.
export async function stopAndCheck(srv) {
  const code = await srv.stop();
  check('server exits cleanly', code === 0, `exit ${code}: ${srv.log().slice(-2000)}`);
  if (LAUNCH.length) {
    const left = await srv.leftover();
    check('no rank left running', left.length === 0, left);
  }
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
