// The JSON Schema corpus end to end (ctest server_structured_corpus): every schema of
// tests/grammar/schemas/*.json and of the JSON Schema Test Suite (draft 4, npm json-schema-test-suite)
// — the corpus of tests/grammar/corpus_check.py — goes to one `qwen3 serve` on the tiny random model
// as response_format json_schema. A schema the converter supports is sampled at temperature 1 with
// two seeds (max_tokens 256); every output that ends with "stop" must parse and be valid under ajv
// (with ajv-formats; oneOf read as anyOf, the converter's documented reading); outputs cut by
// max_tokens must say "length". A schema it refuses must get a 400 naming the field and the reason;
// one that uses a keyword the converter lacks (or that the corpus marks "refuse", or that ajv cannot
// compile) must be refused. Prints a summary. Fails (never skips) without node, openai, ajv,
// ajv-formats or the suite. QWEN3_BIN points at the binary.
import path from 'node:path';
import fs from 'node:fs';
import { check, finish, makeTinyModel, startServer, stopAndCheck, tmpdir, waitIdle } from './server_util.mjs';
import { chat, loadCorpus, loadPeers, oneOfAsAnyOf } from './structured_util.mjs';

const { OpenAI, Ajv, Ajv2020, addFormats } = await loadPeers();
// The sanitizer build (QWEN3_SANITIZED, scripts/test.sh) runs every schema once, shorter: the
// optimised build does the full check.
const SANITIZED_RUN = !!process.env.QWEN3_SANITIZED;
const SEEDS = SANITIZED_RUN ? [1] : [1, 2];
const MAX_TOKENS = SANITIZED_RUN ? 128 : 256;
const CONCURRENCY = 8;

// As corpus_check.py: the keywords the converter supports or ignores; any other one must be refused.
const SUPPORTED = new Set(['type', 'enum', 'const', 'anyOf', 'oneOf', 'allOf', '$ref', 'properties', 'required',
  'additionalProperties', 'items', 'prefixItems', 'additionalItems', 'minItems', 'maxItems', 'uniqueItems', 'minLength',
  'maxLength', 'pattern', 'format', 'minimum', 'maximum', 'exclusiveMinimum', 'exclusiveMaximum']);
const ANNOTATIONS = new Set(['title', 'description', 'examples', '$schema', '$id', 'default', '$comment', 'deprecated',
  'readOnly', 'writeOnly', '$defs', 'definitions', 'contentMediaType']);
function unsupportedKeywords(s, out = new Set()) {
  if (s === null || typeof s !== 'object' || Array.isArray(s)) return out;
  for (const [k, v] of Object.entries(s)) {
    if (!SUPPORTED.has(k) && !ANNOTATIONS.has(k)) out.add(k);
    else if (k === 'uniqueItems' && v === true) out.add(k);
    if (['properties', '$defs', 'definitions'].includes(k) && v && typeof v === 'object') Object.values(v).forEach((x) => unsupportedKeywords(x, out));
    else if (['anyOf', 'oneOf', 'allOf', 'prefixItems'].includes(k) && Array.isArray(v)) v.forEach((x) => unsupportedKeywords(x, out));
    else if (['additionalProperties', 'items', 'additionalItems'].includes(k)) (Array.isArray(v) ? v : [v]).forEach((x) => unsupportedKeywords(x, out));
  }
  return out;
}

// The reason a refusal gives, as corpus_check.py's refusal_reason names it.
function reason(msg) {
  for (const [marker, label] of [["unsupported keyword '", 'keyword'], ["unsupported format '", 'format']]) {
    if (msg.includes(marker)) return `${label} ${msg.split(marker)[1].split("'")[0]}`;
  }
  if (msg.includes('unsupported construct: ')) return `regex ${msg.split('unsupported construct: ')[1].split(' at offset')[0]}`;
  return msg.split(': ').slice(2).join(': ').slice(0, 70) || msg.slice(0, 70);
}

function makeAjv(cls) {
  const a = new cls({ strict: false, allErrors: false, validateFormats: true });
  addFormats(a);
  return a;
}

const dir = tmpdir('qwen3_corpus_');
let srv = null;
const t0 = Date.now();
try {
  let cases;
  try {
    cases = loadCorpus();
  } catch (e) {
    check('the corpus and json-schema-test-suite load (npm ci)', false, `${e}`);
    throw e;
  }
  const ajvs = { 7: makeAjv(Ajv), 2020: makeAjv(Ajv2020) };
  const tiny = makeTinyModel(path.join(dir, 'tiny'));
  srv = await startServer(tiny, ['--kv-memory', '0.1', '--max-batch', '16']);
  // 8 requests at a time: under the sanitizers one of them may wait minutes for its turn.
  const client = new OpenAI({ baseURL: `${srv.url}/v1`, apiKey: 'none', maxRetries: 0, timeout: SANITIZED_RUN ? 900000 : 120000 });
  const messages = [{ role: 'user', content: 'Reply with JSON.' }];

  const stats = { schemas: cases.length, accepted: 0, refused: 0, stop: 0, length: 0, invalid: 0, other: 0, strictOneOf: 0, noStop: 0 };
  const refusedBy = new Map();
  const failures = [];
  const one = async (c) => {
    const mustRefuse = [];
    const bad = unsupportedKeywords(c.schema);
    if (bad.size) mustRefuse.push(`unsupported keywords ${[...bad].join(', ')}`);
    if (c.refuse) mustRefuse.push(`refuse '${c.refuse}'`);
    let validate = null, strict = null;
    try {
      // A schema with an $id is registered under it: drop it after each compile, or the second
      // compile (and a later schema with the same $id) would fail as a duplicate.
      const a = ajvs[c.draft], id = c.schema && typeof c.schema === 'object' ? (c.schema.$id ?? c.schema.id) : undefined;
      validate = a.compile(oneOfAsAnyOf(c.schema));
      if (typeof id === 'string') a.removeSchema(id);
      strict = a.compile(c.schema);
      if (typeof id === 'string') a.removeSchema(id);
    } catch { mustRefuse.push('ajv cannot compile it'); }
    const body = { model: 'tiny', messages, temperature: 1, max_tokens: MAX_TOKENS,
                   response_format: { type: 'json_schema', json_schema: { name: 'corpus', schema: c.schema } } };
    // The first seed tells accepted from refused; the second runs only when accepted.
    let first;
    try {
      first = await chat(client, { ...body, seed: SEEDS[0] });
    } catch (e) {
      if (e.status !== 400) { failures.push(`${c.name}: ${e}`); return; }
      stats.refused++;
      const msg = e.error?.message ?? e.message, param = e.param ?? e.error?.param;
      const r = reason(msg);
      refusedBy.set(r, (refusedBy.get(r) ?? 0) + 1);
      if (param !== 'response_format.json_schema.schema') failures.push(`${c.name}: 400 names param ${param}`);
      if (c.refuse && !msg.includes(c.refuse)) failures.push(`${c.name}: refused, but not for '${c.refuse}': ${msg}`);
      return;
    }
    stats.accepted++;
    if (mustRefuse.length) failures.push(`${c.name}: accepted, but must be refused (${mustRefuse.join('; ')})`);
    const outs = [first];
    for (const seed of SEEDS.slice(1)) outs.push(await chat(client, { ...body, seed }));
    let stops = 0;
    for (const o of outs) {
      const ch = o.choices[0];
      if (ch.finish_reason === 'length') { stats.length++; continue; }
      if (ch.finish_reason !== 'stop') { stats.other++; failures.push(`${c.name}: finish_reason ${ch.finish_reason}`); continue; }
      stats.stop++;
      stops++;
      let value, ok = false;
      try {
        value = JSON.parse(ch.content);
        ok = validate ? validate(value) : false;
      } catch { ok = false; }
      if (!ok) {
        stats.invalid++;
        failures.push(`${c.name}: invalid "stop" output ${JSON.stringify(ch.content).slice(0, 300)}` +
                      (validate?.errors ? ` (${ajvs[c.draft].errorsText(validate.errors)})` : ''));
      } else if (strict && !strict(value)) stats.strictOneOf++;
    }
    if (!stops) stats.noStop++;
  };
  // CONCURRENCY requests in flight, so that the engine batches them.
  let next = 0;
  await Promise.all(Array.from({ length: CONCURRENCY }, async () => {
    while (next < cases.length) {
      const c = cases[next++];
      if (next % 25 === 0) console.log(`[${((Date.now() - t0) / 1000).toFixed(0)} s] ${next} of ${cases.length} schemas sent`);
      try { await one(c); } catch (e) { failures.push(`${c.name}: ${e.stack ?? e}`); }
    }
  }));

  const secs = ((Date.now() - t0) / 1000).toFixed(0);
  console.log(`schemas: ${stats.schemas}; accepted ${stats.accepted}, refused ${stats.refused} (400)`);
  for (const [r, n] of [...refusedBy].sort((a, b) => b[1] - a[1] || a[0].localeCompare(b[0]))) console.log(`    refused ${String(n).padStart(3)}  ${r}`);
  console.log(`outputs: ${SEEDS.length * stats.accepted} (${SEEDS.length} seeds x ${stats.accepted} schemas, max_tokens ${MAX_TOKENS}, temperature 1)`);
  console.log(`  | finish "stop" | finish "length" | other finish | invalid "stop" | valid only with oneOf read as anyOf | schemas with no "stop" |`);
  console.log(`  | ${stats.stop} | ${stats.length} | ${stats.other} | ${stats.invalid} | ${stats.strictOneOf} | ${stats.noStop} |`);
  console.log(`time: ${secs} s`);
  for (const f of failures.slice(0, 40)) console.log(`  ${f}`);
  check('every schema answered, every "stop" output valid, every refusal named', failures.length === 0, `${failures.length} failures`);
  check('outputs counted', stats.stop + stats.length + stats.other === SEEDS.length * stats.accepted, stats);
  check('some outputs complete', stats.stop > 0, stats);
  const idle = await waitIdle(srv.url);
  check('idle afterwards: no KV page in use', idle.get('qwen3_kv_pages_used') === 0, idle.text);
} catch (e) {
  check('no exception', false, `${e.stack}`);
} finally {
  if (srv) await stopAndCheck(srv);
  fs.rmSync(dir, { recursive: true, force: true });
  finish();
}
