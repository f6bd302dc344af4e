// Soak: clients that keep sending chats and often go away mid-request (aborted streams and
// aborted plain requests). Afterwards no KV page is in use (every page is free or held by the
// prefix cache, whose hits the prompts' shared beginnings make likely), nothing runs or waits, the
// server still answers (and a repeated prompt reports its cached tokens), and its resident memory is flat (not checked under the sanitizers, whose
// allocators hold freed memory on purpose). QWEN3_SOAK_SECONDS sets the duration (default 20, 10 under
// the sanitizers; try 300 for a long soak). QWEN3_BIN points at the binary.
import OpenAI from 'openai';
import path from 'node:path';
import fs from 'node:fs';
import { SANITIZED, check, finish, makeTinyModel, metrics, startServer, stopAndCheck, tmpdir, waitIdle } from './server_util.mjs';

const SECONDS = Number(process.env.QWEN3_SOAK_SECONDS || (SANITIZED ? 10 : 20)), CLIENTS = 16;
const dir = tmpdir('qwen3_soak_');
// A hang (a client or the server stuck) fails the test with a message instead of waiting for the
// CTest timeout.
const watchdog = setTimeout(() => {
  console.log(`FAIL watchdog: the soak did not finish within ${SECONDS + 240} s`);
  if (srv) srv.proc.kill('SIGKILL');
  process.exit(1);
}, (SECONDS + 240) * 1000);
watchdog.unref();
let srv;
// A small deterministic generator, so a failing run can be repeated.
let state = 12345;
const rand = () => ((state = (state * 1103515245 + 12345) % 2147483648) / 2147483648);
try {
  const tiny = makeTinyModel(path.join(dir, 'tiny'), 6);
  // 87 KV pages of 16 tokens: eight sequences of up to ~190 tokens do not fit at once, so the
  // cache evicts all the time and requests are preempted now and then.
  srv = await startServer(tiny, ['--kv-memory', '0.001', '--max-batch', '8', '--max-queue', '64', '--quiet']);
  const client = new OpenAI({ baseURL: `${srv.url}/v1`, apiKey: 'none', maxRetries: 0, timeout: 600000 });
  const counts = { done: 0, aborted: 0, errors: 0 };
  const rss = [];
  const end = Date.now() + SECONDS * 1000;
  const worker = async (w) => {
    while (Date.now() < end) {
      const params = {
        model: 'tiny', max_tokens: 8 + Math.floor(rand() * 120), temperature: rand() < 0.5 ? 0 : 0.8, ignore_eos: true,
        n: rand() < 0.1 ? 2 : 1, messages: [{ role: 'user', content: `soak ${w} ${'word '.repeat(Math.floor(rand() * 40))}` }],
      };
      const ac = new AbortController();
      const abortAfter = rand() < 0.5 ? Math.floor(rand() * 20) : -1;
      try {
        if (rand() < 0.8) {
          const stream = await client.chat.completions.create({ ...params, stream: true }, { signal: ac.signal });
          // Going away mid-stream the way the openai package documents it: leaving the loop
          // cancels the response body and closes the connection. (Calling ac.abort() and staying in
          // the loop can leave the iterator pending forever in openai 5.x with Node's fetch.)
          let chunks = 0, left = false;
          for await (const _ of stream) {
            if (++chunks === abortAfter) { left = true; break; }
          }
          if (left) { counts.aborted++; continue; }
        } else {
          if (abortAfter >= 0) setTimeout(() => ac.abort(), abortAfter * 5);
          await client.chat.completions.create(params, { signal: ac.signal });
        }
        counts.done++;
      } catch (e) {
        if (e instanceof OpenAI.APIUserAbortError || e.name === 'AbortError') counts.aborted++;
        else { counts.errors++; if (counts.errors < 5) console.log(`error: ${e}`); }
      }
    }
  };
  const sampler = (async () => {
    while (Date.now() < end) {
      await new Promise((r) => setTimeout(r, 1000));
      rss.push((await metrics(srv.url)).get('process_resident_memory_bytes'));
    }
  })();
  await Promise.all([...Array.from({ length: CLIENTS }, (_, w) => worker(w)), sampler]);
  const m = await waitIdle(srv.url, 10000);
  check('no KV page in use', m.get('qwen3_kv_pages_used') === 0, m.text.slice(0, 3000));
  check('every page is free or cached',
        m.get('qwen3_kv_pages_free') + m.get('qwen3_kv_pages_cached') === m.get('qwen3_kv_pages_total'), m.text.slice(0, 3000));
  check('the prefix cache was hit', m.get('qwen3_prefix_cache_hit_tokens_total') > 0 &&
        m.get('qwen3_prefix_cache_hit_requests_total') > 0, m.text.slice(0, 3000));
  check('nothing running or waiting', m.get('qwen3_requests_running') === 0 && m.get('qwen3_requests_waiting') === 0, m.text.slice(0, 3000));
  check('no request failed', counts.errors === 0, counts);
  check('clients did go away', counts.aborted > 0 && counts.done > 0, counts);
  const cancelled = Number((m.text.match(/qwen3_sequences_finished_total\{reason="cancelled"\} (\d+)/) || [])[1]);
  check('the server saw the disconnects', cancelled > 0, m.text.slice(0, 1500));
  const after = await client.chat.completions.create({ model: 'tiny', max_tokens: 4, messages: [{ role: 'user', content: 'still there?' }] });
  check('still answers', after.usage.completion_tokens === 4, after);
  // A repeated prompt: its whole pages (all but the last token) come from the cache, and say so.
  const repeat = { model: 'tiny', max_tokens: 2, messages: [{ role: 'user', content: 'repeat '.repeat(30) }] };
  const r1 = await client.chat.completions.create(repeat), r2 = await client.chat.completions.create(repeat);
  const whole = Math.floor((r2.usage.prompt_tokens - 1) / 16) * 16;
  check('a repeated prompt is served from the cache', r2.usage.prompt_tokens_details?.cached_tokens === whole && whole > 0,
        { first: r1.usage, second: r2.usage });
  const m2 = await waitIdle(srv.url, 10000);
  check('still every page free or cached after the repeats', m2.get('qwen3_kv_pages_used') === 0 &&
        m2.get('qwen3_kv_pages_free') + m2.get('qwen3_kv_pages_cached') === m2.get('qwen3_kv_pages_total'), m2.text.slice(0, 3000));
  const final = (await metrics(srv.url)).get('process_resident_memory_bytes');
  // Flat: after the first quarter (warm-up: allocator pools, thread stacks) the resident size
  // grows by less than 10% + 16 MB.
  const warm = rss[Math.floor(rss.length / 4)] ?? rss[0];
  if (!SANITIZED) check('resident memory is flat', final <= warm * 1.1 + 16e6, { warm, final, rss });
  console.log(`soak ${SECONDS} s, ${CLIENTS} clients: ${counts.done} completed, ${counts.aborted} aborted, ` +
              `${cancelled} sequences cancelled by the server; RSS ${(warm / 1e6).toFixed(1)} MB after warm-up, ` +
              `${(final / 1e6).toFixed(1)} MB at the end; prefix cache: ${m.get('qwen3_prefix_cache_hit_tokens_total')} ` +
              `tokens hit, ${m.get('qwen3_prefix_cache_miss_tokens_total')} missed, ${m.get('qwen3_kv_pages_cached')} of ` +
              `${m.get('qwen3_kv_pages_total')} pages cached; ${m.get('qwen3_preemptions_total')} preemptions`);
} catch (e) {
  check('no exception', false, `${e.stack}`);
} finally {
  if (srv) await stopAndCheck(srv);
  fs.rmSync(dir, { recursive: true, force: true });
  finish();
}
