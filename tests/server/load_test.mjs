// 64 concurrent streaming chats on the tiny model: every response is complete, no token is lost or
// duplicated (one logprobs entry per token, as many as usage counts), and every greedy response is
// identical, token for token, to the same request sent alone. QWEN3_BIN points at the binary.
import OpenAI from 'openai';
import path from 'node:path';
import fs from 'node:fs';
import { SANITIZED, check, finish, makeTinyModel, startServer, stopAndCheck, tmpdir, waitIdle } from './server_util.mjs';

// Fewer tokens under the sanitizers (a step is ~10x slower there); still 64 concurrent streams.
const CLIENTS = 64, PROMPTS = 16, MAX_TOKENS = SANITIZED ? 8 : 24;
const dir = tmpdir('qwen3_load_');
let srv;
try {
  const tiny = makeTinyModel(path.join(dir, 'tiny'), 4);
  srv = await startServer(tiny, ['--kv-memory', '0.1', '--max-batch', '16', '--quiet']);
  const client = new OpenAI({ baseURL: `${srv.url}/v1`, apiKey: 'none', maxRetries: 0, timeout: 600000 });
  const request = (k) => ({
    model: 'tiny', temperature: 0, max_tokens: MAX_TOKENS, ignore_eos: true, logprobs: true,
    messages: [{ role: 'user', content: `Client ${k}: tell me about ${['cats', 'the sea', 'Paris', 'numbers'][k % 4]} ${'and more '.repeat(k % 5)}` }],
  });
  const tokensOf = (entries) => entries.map((e) => e.bytes.join(','));

  // Each prompt alone first.
  const solo = [];
  for (let k = 0; k < PROMPTS; ++k) {
    const r = await client.chat.completions.create(request(k));
    solo.push({ text: r.choices[0].message.content, tokens: tokensOf(r.choices[0].logprobs.content) });
  }

  // Then all clients at once, streaming.
  const t0 = Date.now();
  const results = await Promise.all(Array.from({ length: CLIENTS }, async (_, i) => {
    const k = i % PROMPTS;
    const stream = await client.chat.completions.create({ ...request(k), stream: true, stream_options: { include_usage: true } });
    let text = '', entries = [], finishReason = null, usage = null;
    for await (const chunk of stream) {
      if (chunk.usage) usage = chunk.usage;
      for (const ch of chunk.choices) {
        text += ch.delta.content ?? '';
        entries.push(...(ch.logprobs?.content ?? []));
        finishReason = ch.finish_reason ?? finishReason;
      }
    }
    return { k, text, tokens: tokensOf(entries), finishReason, usage };
  }));
  const seconds = (Date.now() - t0) / 1000;
  let complete = 0, exact = 0;
  for (const r of results) {
    const ok = r.finishReason === 'length' && r.usage?.completion_tokens === MAX_TOKENS && r.tokens.length === MAX_TOKENS;
    complete += ok;
    const same = r.text === solo[r.k].text && r.tokens.join('|') === solo[r.k].tokens.join('|');
    exact += same;
    if (!ok) check(`client ${r.k} complete`, false, { finish: r.finishReason, usage: r.usage, tokens: r.tokens.length });
    if (!same) check(`client ${r.k} equals solo`, false, [r.text, solo[r.k].text]);
  }
  check('every response complete', complete === CLIENTS, `${complete}/${CLIENTS}`);
  check('every greedy response equals the solo run', exact === CLIENTS, `${exact}/${CLIENTS}`);
  const m = await waitIdle(srv.url);
  check('idle afterwards: no KV page in use', m.get('qwen3_kv_pages_used') === 0, m.text.slice(0, 3000));
  const ok200 = Number((m.text.match(/qwen3_http_requests_total\{status="200"\} (\d+)/) || [])[1]);
  check('every request answered 200', ok200 >= CLIENTS + PROMPTS, m.text.slice(0, 500));
  console.log(`${CLIENTS} concurrent streams x ${MAX_TOKENS} tokens in ${seconds.toFixed(2)} s ` +
              `(${(CLIENTS * MAX_TOKENS / seconds).toFixed(0)} tok/s); ${complete} complete, ${exact} identical to solo`);
} catch (e) {
  check('no exception', false, `${e.stack}`);
} finally {
  if (srv) await stopAndCheck(srv);
  fs.rmSync(dir, { recursive: true, force: true });
  finish();
}
