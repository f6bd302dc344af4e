// /v1/embeddings through the official `openai` npm client (which asks for base64 unless told
// otherwise) and /v1/rerank through fetch, on Qwen3-Embedding / Qwen3-Reranker layouts with random
// weights: the server's results equal `qwen3 embed` / `qwen3 rerank` (which tests/reference holds
// to the float64 reference) bit for bit, batched requests equal single ones, dimensions, token
// inputs, the task detection, and the 400s. QWEN3_BIN points at the binary.
import OpenAI from 'openai';
import path from 'node:path';
import { execFileSync } from 'node:child_process';
import { BIN, check, finish, makeTinyModel, startServer, stopAndCheck, tmpdir } from './server_util.mjs';

const dir = tmpdir('qwen3_embed_');
const servers = [];
const make = (preset, name) => {
  const out = path.join(dir, name);
  execFileSync(BIN, ['make-test-model', '--preset', preset, '--seed', '3', '--out', out], { stdio: 'pipe' });
  return out;
};
const cli = (args) => JSON.parse(execFileSync(BIN, args, { encoding: 'utf8' }));
const post = async (url, body) => {
  const r = await fetch(url, { method: 'POST', body: JSON.stringify(body) });
  return { status: r.status, body: await r.json() };
};
const same = (a, b) => a.length === b.length && a.every((x, i) => x === b[i]);
const texts = ['Hello world', 'The capital of China is Beijing.', '引力 🍎', 'a'];
try {
  const emb = make('qwen3-embedding-tiny', 'emb');
  const rer = make('qwen3-reranker-tiny', 'Tiny-Reranker');
  const gen = makeTinyModel(path.join(dir, 'tiny'));

  // --- an embedding checkpoint: detected, served on /v1/embeddings ---
  const srv = await startServer(emb, ['--kv-memory', '0.05']);
  servers.push(srv);
  check('embed task detected', /task embed/.test(srv.log()), srv.log().slice(-500));
  const models = await (await fetch(`${srv.url}/v1/models`)).json(), tk = await post(`${srv.url}/tokenize`, { prompt: 'Hi' });
  check('/tokenize and /v1/models: the same max_model_len (the pooler\'s)', tk.status === 200 && tk.body.max_model_len > 16 &&
        tk.body.max_model_len === models.data[0].max_model_len, { tk, models });
  const client = new OpenAI({ baseURL: `${srv.url}/v1`, apiKey: 'none', maxRetries: 0 });
  const want = cli(['embed', '--model', emb, ...texts]).data.map((d) => d.embedding);

  const one = await client.embeddings.create({ model: 'emb', input: texts[0] });  // base64 on the wire
  check('embeddings: shape and usage', one.object === 'list' && one.data.length === 1 && one.data[0].index === 0 &&
        one.data[0].embedding.length === 64 && one.usage.prompt_tokens === 3 && one.usage.total_tokens === 3, one);
  check('embeddings (base64) equal qwen3 embed', same(one.data[0].embedding, want[0]));
  const batch = await client.embeddings.create({ model: 'emb', input: texts, encoding_format: 'float' });
  check('a batch (float) equals each text alone', batch.data.every((d, i) => d.index === i && same(d.embedding, want[i])));
  const ids = (await post(`${srv.url}/tokenize`, { prompt: texts[1] })).body.tokens.concat([151643]);
  const tok = await client.embeddings.create({ model: 'emb', input: [ids, ids.slice(0, 3)], encoding_format: 'float' });
  check('token arrays: as given (the text plus <|endoftext|>) equal the text', same(tok.data[0].embedding, want[1]) &&
        tok.usage.prompt_tokens === ids.length + 3, tok.usage);
  const d16 = await client.embeddings.create({ model: 'emb', input: texts[1], dimensions: 16, encoding_format: 'float' });
  const v = d16.data[0].embedding, full = want[1].slice(0, 16), n = Math.hypot(...full);
  check('dimensions: first 16, normalized again', v.length === 16 && v.every((x, i) => Math.abs(x - full[i] / n) < 1e-6) &&
        Math.abs(Math.hypot(...v) - 1) < 1e-6, v);
  const b64 = await post(`${srv.url}/v1/embeddings`, { input: 'a', encoding_format: 'base64' });
  const raw = Buffer.from(b64.body.data[0].embedding, 'base64');
  const floats = Array.from({ length: raw.length / 4 }, (_, i) => raw.readFloatLE(4 * i));
  check('base64: little-endian float32 equal to the floats', same(floats, want[3]), b64.body);

  const bad = async (body, param, re, name) => {
    const r = await post(`${srv.url}/v1/embeddings`, body);
    check(`400: ${name}`, r.status === 400 && r.body.error?.param === param && re.test(r.body.error?.message), r);
  };
  await bad({ input: '' }, 'input', /empty/, 'empty string');
  await bad({ input: [] }, 'input', /empty/, 'empty array');
  await bad({ input: ['x', ''] }, 'input', /input\[1\]/, 'an empty string among others');
  await bad({ input: Array(2049).fill('x') }, 'input', /2049 .*at most 2048/, 'more inputs than the limit');
  await bad({ input: Array(5000).fill(9707) }, 'input', /5000 tokens.*at most 4096/, 'an input past the context');
  await bad({ input: [[1, -2]] }, 'input', /not a token id/, 'a bad token id');
  await bad({ input: 'x', dimensions: 65 }, 'dimensions', /1\.\.64/, 'dimensions past the hidden size');
  await bad({ input: 'x', dimensions: 0 }, 'dimensions', /1\.\.64/, 'dimensions 0');
  await bad({ input: 'x', encoding_format: 'int8' }, 'encoding_format', /float/, 'encoding_format');
  await bad({ input: 'x', model: 'other' }, 'model', /does not exist/, 'unknown model');
  let chat = await post(`${srv.url}/v1/chat/completions`, { messages: [{ role: 'user', content: 'hi' }] });
  check('chat on an embedding model: 400 naming the task', chat.status === 400 && /serves 'embed'/.test(chat.body.error?.message), chat);
  const rr = await post(`${srv.url}/v1/rerank`, { query: 'q', documents: ['d'] });
  check('rerank on an embedding model: 400', rr.status === 400 && /serves 'embed'/.test(rr.body.error?.message), rr);
  await stopAndCheck(srv);

  // --- a generative checkpoint: /v1/embeddings only with --task embed ---
  const g = await startServer(gen, ['--kv-memory', '0.05']);
  servers.push(g);
  const ge = await post(`${g.url}/v1/embeddings`, { input: 'x' });
  check('embeddings on a generative model: 400 naming the task', ge.status === 400 && /serves 'generate'/.test(ge.body.error?.message) &&
        /--task/.test(ge.body.error?.message), ge);
  await stopAndCheck(g);
  const ge2 = await startServer(gen, ['--kv-memory', '0.05', '--task', 'embed']);
  servers.push(ge2);
  const forced = await post(`${ge2.url}/v1/embeddings`, { input: ['x', 'y'] });
  check('--task embed on a generative model serves embeddings', forced.status === 200 && forced.body.data.length === 2, forced);
  chat = await post(`${ge2.url}/v1/completions`, { prompt: 'hi' });
  check('--task embed: completions 400', chat.status === 400 && /serves 'embed'/.test(chat.body.error?.message), chat);
  await stopAndCheck(ge2);

  // --- a reranker (detected by its folder name) ---
  const r = await startServer(rer, ['--kv-memory', '0.05']);
  servers.push(r);
  check('rerank task detected', /task rerank/.test(r.log()), r.log().slice(-500));
  const query = 'What is the capital of China?';
  const local = cli(['rerank', '--model', rer, '--query', query, ...texts]).results;
  const res = await post(`${r.url}/v1/rerank`, { model: 'Tiny-Reranker', query, documents: texts });
  check('rerank: scores equal qwen3 rerank, best first, with documents', res.status === 200 && res.body.results.length === 4 &&
        res.body.results.every((x, i) => x.index === local[i].index && x.relevance_score === local[i].relevance_score &&
                                    x.document.text === texts[x.index]) && res.body.usage.prompt_tokens > 0, res.body);
  const top = await post(`${r.url}/rerank`, { query, documents: texts.map((text) => ({ text })), top_n: 2, return_documents: false });
  check('rerank: top_n, return_documents false, {text} documents, /rerank', top.status === 200 && top.body.results.length === 2 &&
        top.body.results.every((x, i) => x.index === local[i].index && !('document' in x)), top.body);
  const rbad = async (body, param, re, name) => {
    const x = await post(`${r.url}/v1/rerank`, body);
    check(`rerank 400: ${name}`, x.status === 400 && x.body.error?.param === param && re.test(x.body.error?.message), x);
  };
  await rbad({ documents: ['d'] }, 'query', /query/, 'no query');
  await rbad({ query: 'q', documents: [] }, 'documents', /empty/, 'no documents');
  await rbad({ query: 'q', documents: Array(2049).fill('d') }, 'documents', /at most 2048/, 'too many documents');
  await rbad({ query: 'q', documents: ['x '.repeat(5000)] }, 'documents', /at most 4096/, 'a document past the context');
  await rbad({ query: 'q', documents: ['d'], top_n: 0 }, 'top_n', /top_n/, 'top_n 0');
  const emb2 = await post(`${r.url}/v1/embeddings`, { input: 'x' });
  check('embeddings on a reranker: 400', emb2.status === 400 && /serves 'rerank'/.test(emb2.body.error?.message), emb2);
  await stopAndCheck(r);
} catch (e) {
  check('no exception', false, e.stack);
} finally {
  for (const s of servers) await s.stop();
  finish();
}
