// Structured output through the official `openai` npm client, on the tiny random-weight model with
// the real tokenizer: response_format (json_schema, json_object), vLLM's guided_json / guided_regex /
// guided_choice / guided_grammar, forced tool calls (tool_choice "required" or named, with
// parallel_tool_calls false and true), n > 1, logprobs, and the 400s. Sampling at temperature 1 with
// several seeds, plain and streamed: every output that ends with "stop" (or "tool_calls") must be
// valid — JSON.parse, then ajv (with ajv-formats) against the schema; outputs cut by max_tokens must
// say "length", and are counted. Fails (never skips) without node, openai, ajv or ajv-formats.
// QWEN3_BIN points at the binary.
import path from 'node:path';
import fs from 'node:fs';
import { check, finish, makeTinyModel, startServer, stopAndCheck, tmpdir, waitIdle } from './server_util.mjs';
import { chat, loadPeers, refusal } from './structured_util.mjs';

const { OpenAI, Ajv2020, addFormats } = await loadPeers();
const ajv = new Ajv2020({ strict: false, allErrors: true });
addFormats(ajv);

const SEEDS = [1, 2, 3, 4];
const messages = [{ role: 'user', content: 'Answer in JSON, please.' }];

// The schemas of the response_format sweep: recursion through $defs, enums, nested bounded arrays,
// the string formats, integer bounds, anyOf with null, a number with integer bounds.
const SCHEMAS = {
  person: {
    type: 'object',
    properties: {
      name: { type: 'string', maxLength: 8 },
      age: { type: 'integer', minimum: 0, maximum: 120 },
      role: { enum: ['admin', 'user', 'guest'] },
      active: { type: 'boolean' },
    },
    required: ['name', 'age', 'role', 'active'],
    additionalProperties: false,
  },
  tree: {
    $defs: {
      node: {
        type: 'object',
        properties: {
          value: { type: 'integer', minimum: -5, maximum: 5 },
          children: { type: 'array', items: { $ref: '#/$defs/node' }, maxItems: 2 },
        },
        required: ['value', 'children'],
        additionalProperties: false,
      },
    },
    $ref: '#/$defs/node',
  },
  matrix: {
    type: 'object',
    properties: {
      matrix: { type: 'array', minItems: 1, maxItems: 3,
                items: { type: 'array', minItems: 2, maxItems: 2, items: { type: 'integer', minimum: 0, maximum: 9 } } },
      tags: { type: 'array', maxItems: 4, items: { enum: ['red', 'green', 'blue'] } },
    },
    required: ['matrix', 'tags'],
    additionalProperties: false,
  },
  formats: {
    type: 'object',
    properties: {
      id: { type: 'string', format: 'uuid' },
      day: { type: 'string', format: 'date' },
    },
    required: ['id', 'day'],
    additionalProperties: false,
  },
  // An email's parts are unbounded: a random model rarely ends them within max_tokens.
  email: {
    type: 'object',
    properties: { email: { type: 'string', format: 'email' }, verified: { type: 'boolean' } },
    required: ['email', 'verified'],
    additionalProperties: false,
  },
  bounds: {
    type: 'object',
    properties: {
      level: { type: 'integer', minimum: -40, maximum: 1000 },
      code: { type: 'integer', exclusiveMinimum: 99, exclusiveMaximum: 1000 },
      status: { anyOf: [{ const: 'ok' }, { type: 'null' }] },
      ratio: { type: 'number', minimum: 0, maximum: 1 },
    },
    required: ['level', 'code', 'status'],
    additionalProperties: false,
  },
};

// Tallies finish reasons per label: stop outputs must pass `valid`; anything but stop/length fails.
const tally = {};
function judge(label, choice, valid) {
  const t = tally[label] ??= { stop: 0, length: 0 };
  if (choice.finish_reason === 'length') { t.length++; return; }
  if (choice.finish_reason !== 'stop') { check(`${label}: finish_reason`, false, choice); return; }
  t.stop++;
  let why = null;
  try { why = valid(choice.content); } catch (e) { why = `${e}`; }
  check(`${label}: a "stop" output is valid`, why === null, { why, content: choice.content });
}
function jsonValid(schema) {
  const v = ajv.compile(schema);
  return (text) => {
    const value = JSON.parse(text);
    return v(value) ? null : ajv.errorsText(v.errors);
  };
}

const dir = tmpdir('qwen3_structured_');
let srv = null;
try {
  const tiny = makeTinyModel(path.join(dir, 'tiny'));
  srv = await startServer(tiny, ['--kv-memory', '0.05', '--max-batch', '16']);
  const client = new OpenAI({ baseURL: `${srv.url}/v1`, apiKey: 'none', maxRetries: 0 });
  const base = { model: 'tiny', messages, temperature: 1, max_tokens: 160 };

  // --- response_format json_schema: several schemas x seeds, plain and streamed ---
  const jobs = [];
  for (const [name, schema] of Object.entries(SCHEMAS)) {
    const valid = jsonValid(schema);
    for (const seed of SEEDS) for (const stream of [false, true]) {
      jobs.push(chat(client, { ...base, seed, stream, response_format: { type: 'json_schema', json_schema: { name, schema, strict: true } } })
        .then((r) => judge(`json_schema ${name}`, r.choices[0], valid)));
    }
  }
  // The same request plain and streamed writes the same text.
  const same = { ...base, seed: 11, response_format: { type: 'json_schema', json_schema: { name: 'person', schema: SCHEMAS.person } } };
  jobs.push(Promise.all([chat(client, same), chat(client, { ...same, stream: true })]).then(([a, b]) =>
    check('json_schema: streamed equals plain', a.choices[0].content === b.choices[0].content &&
          a.choices[0].finish_reason === b.choices[0].finish_reason, [a.choices[0], b.choices[0]])));
  await Promise.all(jobs);
  for (const name of Object.keys(SCHEMAS).filter((n) => n !== 'email')) {
    const t = tally[`json_schema ${name}`];
    check(`json_schema ${name}: some outputs complete`, t.stop > 0, t);
  }

  // --- json_object, guided_json (object and string), guided_choice, guided_regex, guided_grammar ---
  const objectValid = (text) => {
    const v = JSON.parse(text);
    return v !== null && typeof v === 'object' && !Array.isArray(v) ? null : 'not an object';
  };
  const choices = ['sunny', 'cloudy with rain', 'snow ❄', 'Ça va'];
  const regex = '[a-z]{2,5}-\\d{3}(\\.[A-F0-9]{2})?';
  const re = new RegExp(`^(?:${regex})$`, 'u');
  // GBNF (docs/grammar.md): a sign, a list of 1..3 small numbers, or a word; a JS twin checks it.
  const gbnf = 'root ::= answer\nanswer ::= "yes" | "no" | "[" num ("," num){0,2} "]"\nnum ::= "-"? [1-9] [0-9]?\n';
  const gbnfRe = /^(?:yes|no|\[-?[1-9][0-9]?(?:,-?[1-9][0-9]?){0,2}\])$/u;
  const guidedSchema = SCHEMAS.person;
  const kinds = {
    json_object: [{ response_format: { type: 'json_object' } }, objectValid],
    'guided_json object': [{ guided_json: guidedSchema }, jsonValid(guidedSchema)],
    'guided_json string': [{ guided_json: JSON.stringify(SCHEMAS.matrix) }, jsonValid(SCHEMAS.matrix)],
    guided_choice: [{ guided_choice: choices }, (t) => (choices.includes(t) ? null : 'not a choice')],
    guided_regex: [{ guided_regex: regex }, (t) => (re.test(t) ? null : 'no full match')],
    guided_grammar: [{ guided_grammar: gbnf }, (t) => (gbnfRe.test(t) ? null : 'not in the language')],
  };
  const kjobs = [];
  for (const [label, [extra, valid]] of Object.entries(kinds))
    for (const seed of SEEDS) for (const stream of [false, true])
      kjobs.push(chat(client, { ...base, ...extra, seed, stream }).then((r) => judge(label, r.choices[0], valid)));
  await Promise.all(kjobs);
  for (const label of Object.keys(kinds)) {
    if (label === 'json_object') continue;  // unbounded strings and numbers: may always run to length
    check(`${label}: some outputs complete`, tally[label].stop > 0, tally[label]);
  }
  const seen = new Set();
  for (const seed of [5, 6, 7, 8, 9, 10]) seen.add((await chat(client, { ...base, guided_choice: choices, seed })).choices[0].content);
  check('guided_choice: more than one choice is sampled', seen.size > 1, [...seen]);

  // The completions endpoint honours the same fields.
  for (const stream of [false, true]) {
    const body = { model: 'tiny', prompt: 'The weather today:', max_tokens: 16, temperature: 1, seed: 3, guided_choice: choices, stream };
    let text = '', fr = null;
    if (stream) {
      for await (const chunk of await client.completions.create(body)) {
        text += chunk.choices[0]?.text ?? '';
        fr = chunk.choices[0]?.finish_reason ?? fr;
      }
    } else {
      const r = await client.completions.create(body);
      text = r.choices[0].text;
      fr = r.choices[0].finish_reason;
    }
    check(`completions guided_choice (stream ${stream})`, fr === 'stop' && choices.includes(text), [text, fr]);
  }
  const cschema = await client.completions.create({ model: 'tiny', prompt: 'JSON:', max_tokens: 160, temperature: 1, seed: 4,
    response_format: { type: 'json_schema', json_schema: { name: 'm', schema: SCHEMAS.matrix } } });
  judge('completions json_schema', { finish_reason: cschema.choices[0].finish_reason, content: cschema.choices[0].text }, jsonValid(SCHEMAS.matrix));

  // --- forced tool calls ---
  const tools = [
    { type: 'function', function: { name: 'get_weather', description: 'Weather of a city',
      parameters: { type: 'object', properties: { city: { type: 'string', maxLength: 10 }, unit: { enum: ['c', 'f'] } },
                    required: ['city', 'unit'], additionalProperties: false } } },
    { type: 'function', function: { name: 'add', description: 'Adds two numbers',
      parameters: { type: 'object', properties: { a: { type: 'integer', minimum: 0, maximum: 99 }, b: { type: 'integer', minimum: 0, maximum: 99 } },
                    required: ['a', 'b'], additionalProperties: false } } },
    { type: 'function', function: { name: 'now', description: 'The time; no parameters' } },
  ];
  const argValid = Object.fromEntries(tools.map((t) => [t.function.name, ajv.compile(t.function.parameters ?? { type: 'object' })]));
  const callProblems = (calls, tool_choice) => {
    const why = [];
    for (const call of calls) {
      if (typeof tool_choice === 'object' && call.name !== tool_choice.function.name) why.push(`called ${call.name}`);
      if (!argValid[call.name]) { why.push(`unknown function ${call.name}`); continue; }
      if (call.type !== 'function' || !call.id) why.push(`type ${call.type}, id ${call.id}`);
      try {
        if (!argValid[call.name](JSON.parse(call.arguments))) why.push(`${call.name}: ${ajv.errorsText(argValid[call.name].errors)}`);
      } catch (e) { why.push(`${call.arguments}: ${e}`); }
    }
    return why;
  };
  // With parallel_tool_calls true a random model rarely chooses <|im_end|> over "\n<tool_call>", so
  // calls go on until max_tokens: then every call parsed before the cut must be valid, and there must
  // be more than one somewhere (a call of `now`, whose arguments are any object, may not end). A logit_bias on <|im_end|> makes it stop after the first call instead.
  const EOS = 151645;
  const toolTally = {};
  const tjobs = [];
  for (const [cname, tool_choice] of [['required', 'required'], ['named add', { type: 'function', function: { name: 'add' } }],
                                      ['named get_weather', { type: 'function', function: { name: 'get_weather' } }]]) {
    for (const [parallel_tool_calls, bias] of [[false, null], [true, null], [true, { [EOS]: 20 }]]) for (const stream of [false, true]) for (const seed of [1, 2, 3]) {
      const label = `tool_choice ${cname} parallel=${parallel_tool_calls}${bias ? ' eos-bias' : ''}`;
      tjobs.push(chat(client, { ...base, max_tokens: 120, tools, tool_choice, parallel_tool_calls, seed, stream, logit_bias: bias ?? undefined }).then((r) => {
        const c = r.choices[0];
        const t = toolTally[label] ??= { tool_calls: 0, length: 0 };
        const why = callProblems(c.tool_calls, tool_choice);
        if (c.finish_reason === 'length') {
          t.length++;
          if (parallel_tool_calls) t.most = Math.max(t.most ?? 0, c.tool_calls.length);
          check(`${label} (stream ${stream}): calls before the cut are valid`, why.length === 0, { why, choice: c });
          return;
        }
        t.tool_calls++;
        if (c.finish_reason !== 'tool_calls') why.push(`finish_reason ${c.finish_reason}`);
        if (c.tool_calls.length === 0) why.push('no tool_calls');
        if (!parallel_tool_calls && c.tool_calls.length !== 1) why.push(`${c.tool_calls.length} calls with parallel_tool_calls false`);
        if (c.content) why.push(`content ${JSON.stringify(c.content)}`);
        check(`${label} (stream ${stream}): valid tool calls`, why.length === 0, { why, choice: c });
      }));
    }
  }
  await Promise.all(tjobs);
  for (const [label, t] of Object.entries(toolTally)) if (!/parallel=true$/.test(label)) check(`${label}: some calls complete`, t.tool_calls > 0, t);
  check('parallel_tool_calls true: several calls in one answer', Object.entries(toolTally).some(([l, t]) => /parallel=true$/.test(l) && t.most >= 2), toolTally);

  // --- n = 2 with a schema; logprobs with a schema and with a choice ---
  const two = await chat(client, { ...base, n: 2, seed: 21, response_format: { type: 'json_schema', json_schema: { name: 'tree', schema: SCHEMAS.tree } } });
  check('n=2: two choices', two.choices.length === 2, two.choices);
  two.choices.forEach((c) => judge('n=2 json_schema tree', c, jsonValid(SCHEMAS.tree)));
  check('n=2: the choices differ', two.choices[0].content !== two.choices[1].content, two.choices);
  for (const stream of [false, true]) {
    for (const [label, extra] of [['schema', { response_format: { type: 'json_schema', json_schema: { name: 'p', schema: SCHEMAS.person } } }],
                                  ['choice', { guided_choice: choices }]]) {
      const r = await chat(client, { ...base, ...extra, seed: 5, stream, logprobs: true, top_logprobs: 5 });
      const lp = r.choices[0].logprobs;
      const finite = (x) => typeof x === 'number' && Number.isFinite(x) && x <= 0;
      check(`logprobs ${label} (stream ${stream}): one entry per token`, lp.length === r.usage.completion_tokens, [lp.length, r.usage]);
      check(`logprobs ${label} (stream ${stream}): all finite, sampled token among the allowed`,
            lp.every((e) => finite(e.logprob) && e.top_logprobs.length >= 1 && e.top_logprobs.every((t) => finite(t.logprob)) &&
                            e.logprob <= e.top_logprobs[0].logprob + 1e-6),
            lp.find((e) => !finite(e.logprob) || !e.top_logprobs.every((t) => finite(t.logprob))) ?? lp);
      // After masking, the allowed tokens share all the probability.
      if (label === 'choice') {
        check(`logprobs choice (stream ${stream}): the first step's allowed tokens sum to 1`,
              Math.abs(lp[0].top_logprobs.reduce((s, t) => s + Math.exp(t.logprob), 0) - 1) < 1e-3 || lp[0].top_logprobs.length === 5, lp[0]);
      }
      judge(`logprobs ${label}`, r.choices[0], label === 'choice' ? (t) => (choices.includes(t) ? null : 'not a choice') : jsonValid(SCHEMAS.person));
    }
  }

  // --- refused with 400, naming the field ---
  const rf = (schema) => ({ response_format: { type: 'json_schema', json_schema: { name: 'x', schema } } });
  const bad = [
    ['multipleOf', rf({ type: 'object', properties: { n: { type: 'integer', multipleOf: 3 } } }), /^response_format/, /multipleOf/],
    ['guided_json multipleOf', { guided_json: { type: 'number', multipleOf: 2 } }, /^guided_json$/, /multipleOf/],
    ['broken GBNF', { guided_grammar: 'root ::= "a" | ( "b"' }, /^guided_grammar$/, /./],
    ['undefined GBNF rule', { guided_grammar: 'root ::= missing' }, /^guided_grammar$/, /missing/],
    ['backreference', { guided_regex: '(a)\\1' }, /^guided_regex$/, /backreference/i],
    ['empty guided_choice', { guided_choice: [] }, /^guided_choice$/, /./],
    ['two constraints', { response_format: { type: 'json_object' }, guided_regex: 'a+' }, /^(guided_regex|response_format)$/, /combined/],
    ['tool_choice naming a missing tool', { tools, tool_choice: { type: 'function', function: { name: 'nope' } } }, /^tool_choice$/, /nope/],
    ['tool_choice required without tools', { tool_choice: 'required' }, /^tool_choice$/, /tools/],
    ['tool parameters with multipleOf', { tools: [{ type: 'function', function: { name: 'f', parameters: { type: 'object', properties: { x: { type: 'integer', multipleOf: 5 } } } } }],
                                          tool_choice: 'required' }, /^tools\[0\]\.function\.parameters$/, /multipleOf/],
    ['unknown format', rf({ type: 'string', format: 'hostname' }), /^response_format/, /hostname/],
    ['response_format type', { response_format: { type: 'yaml' } }, /^response_format$/, /yaml/],
    ['ignore_eos with a schema', { ...rf(SCHEMAS.person), ignore_eos: true }, /^ignore_eos$/, /ignore_eos/],
  ];
  for (const [label, extra, param, message] of bad) {
    const r = await refusal(client.chat.completions.create({ ...base, ...extra }));
    check(`400 ${label}`, r && r.status === 400 && param.test(r.param ?? '') && message.test(r.message), r);
  }
  const cr = await refusal(client.completions.create({ model: 'tiny', prompt: 'x', max_tokens: 4, guided_regex: '(?=a)b' }));
  check('400 completions lookahead', cr && cr.status === 400 && cr.param === 'guided_regex' && /lookahead/i.test(cr.message), cr);

  const idle = await waitIdle(srv.url);
  check('idle afterwards: no KV page in use', idle.get('qwen3_kv_pages_used') === 0, idle.text);
  console.log('finish reasons:');
  for (const [label, t] of Object.entries({ ...tally, ...toolTally })) console.log(`  ${label.padEnd(44)} ${JSON.stringify(t)}`);
} catch (e) {
  check('no exception', false, `${e.stack}`);
} finally {
  if (srv) await stopAndCheck(srv);
  fs.rmSync(dir, { recursive: true, force: true });
  finish();
}
