// Shared by the structured-output server tests: ajv (with ajv-formats) loaded from the repository's
// node_modules, and the collection of one chat completion (plain or streamed) into one shape.
// Without openai, ajv or ajv-formats the tests fail: they never skip (npm ci at the repository root).
import fs from 'node:fs';
import path from 'node:path';
import { createRequire } from 'node:module';
import { fileURLToPath } from 'node:url';

const require = createRequire(import.meta.url);

// { OpenAI, Ajv, Ajv2020, addFormats }; exits 1 (a failure, not a skip) when a peer is missing.
export async function loadPeers() {
  try {
    const OpenAI = (await import('openai')).default;
    const Ajv = require('ajv').default;
    const Ajv2020 = require('ajv/dist/2020').default;
    const addFormats = require('ajv-formats').default;
    return { OpenAI, Ajv, Ajv2020, addFormats };
  } catch (e) {
    console.log(`FAIL: an npm peer is missing (run npm ci at the repository root): ${e.message}`);
    console.log('0 passed, 1 failed');
    process.exit(1);
  }
}

// oneOf read as anyOf, as the converter reads it (docs/structured-output.md).
export function oneOfAsAnyOf(s) {
  if (Array.isArray(s)) return s.map(oneOfAsAnyOf);
  if (s === null || typeof s !== 'object') return s;
  const out = {};
  for (const [k, v] of Object.entries(s)) out[k === 'oneOf' ? 'anyOf' : k] = oneOfAsAnyOf(v);
  return out;
}

// A chat completion as { choices: [{ content, reasoning, tool_calls: [{ id, name, arguments }],
// finish_reason, logprobs: [entries] }], usage }, from a plain response or a stream (deltas
// joined by index; a tool call's arguments may come in pieces, as OpenAI streams them).
export async function chat(client, body) {
  if (!body.stream) {
    const r = await client.chat.completions.create(body);
    return {
      usage: r.usage,
      choices: r.choices.map((c) => ({
        content: c.message.content, reasoning: c.message.reasoning_content ?? '', finish_reason: c.finish_reason,
        tool_calls: (c.message.tool_calls ?? []).map((t) => ({ id: t.id, type: t.type, name: t.function.name, arguments: t.function.arguments })),
        logprobs: c.logprobs?.content ?? [],
      })),
    };
  }
  const stream = await client.chat.completions.create({ ...body, stream_options: { include_usage: true } });
  const choices = [];
  let usage = null;
  for await (const chunk of stream) {
    if (chunk.usage) usage = chunk.usage;
    for (const ch of chunk.choices) {
      const c = choices[ch.index] ??= { content: '', reasoning: '', tool_calls: [], finish_reason: null, logprobs: [] };
      c.content += ch.delta.content ?? '';
      c.reasoning += ch.delta.reasoning_content ?? '';
      for (const t of ch.delta.tool_calls ?? []) {
        const call = c.tool_calls[t.index] ??= { id: '', type: '', name: '', arguments: '' };
        call.id += t.id ?? '';
        call.type = t.type ?? call.type;
        call.name += t.function?.name ?? '';
        call.arguments += t.function?.arguments ?? '';
      }
      c.logprobs.push(...(ch.logprobs?.content ?? []));
      if (ch.finish_reason) c.finish_reason = ch.finish_reason;
    }
  }
  return { usage, choices };
}

// The status, param and message of a refused request (null when it was not refused).
export async function refusal(promise) {
  try {
    await promise;
    return null;
  } catch (e) {
    return { status: e.status, param: e.param ?? e.error?.param ?? null, message: e.error?.message ?? e.message };
  }
}

// The schema corpus: tests/grammar/schemas/*.json and the JSON Schema Test Suite (draft 4, npm
// json-schema-test-suite), as [{ name, schema, refuse, draft }] (corpus_check.py reads the same).
export function loadCorpus() {
  const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');
  const cases = [];
  const schemasDir = path.join(root, 'tests', 'grammar', 'schemas');
  for (const file of fs.readdirSync(schemasDir).sort()) {
    if (!file.endsWith('.json')) continue;
    for (const c of JSON.parse(fs.readFileSync(path.join(schemasDir, file), 'utf8'))) {
      const draft7 = typeof c.schema.$schema === 'string' && c.schema.$schema.includes('draft-07');
      cases.push({ name: `${file}: ${c.name}`, schema: c.schema, refuse: c.refuse ?? null, draft: draft7 ? 7 : 2020 });
    }
  }
  const suite = path.join(path.dirname(require.resolve('json-schema-test-suite/package.json')), 'tests', 'draft4');
  for (const sub of ['', 'optional']) {
    for (const file of fs.readdirSync(path.join(suite, sub)).sort()) {
      if (!file.endsWith('.json')) continue;
      for (const g of JSON.parse(fs.readFileSync(path.join(suite, sub, file), 'utf8')))
        cases.push({ name: `suite/${sub ? sub + '/' : ''}${file}: ${g.description}`, schema: g.schema, refuse: null, draft: 7 });
    }
  }
  return cases;
}
