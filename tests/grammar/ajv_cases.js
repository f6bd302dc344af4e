// The oracle side of the JSON Schema -> GBNF corpus check (tests/grammar/corpus_check.py): loads
// the schemas of tests/grammar/schemas/*.json and of the JSON Schema Test Suite (npm
// json-schema-test-suite, draft 4), makes instances (the suite's, ours, and mutations of ours),
// and asks ajv (with ajv-formats) whether each is valid. Prints one JSON array on stdout.
// Exits 1 when node_modules lacks ajv, ajv-formats or the suite: the check must not pass without
// its peers.
"use strict";
const fs = require("fs");
const path = require("path");

const root = path.resolve(__dirname, "..", "..");
let Ajv, Ajv2020, addFormats, suiteDir;
try {
  Ajv = require(path.join(root, "node_modules", "ajv")).default;
  Ajv2020 = require(path.join(root, "node_modules", "ajv", "dist", "2020")).default;
  addFormats = require(path.join(root, "node_modules", "ajv-formats")).default;
  suiteDir = path.join(path.dirname(require.resolve(path.join(root, "node_modules", "json-schema-test-suite", "package.json"))), "tests", "draft4");
  fs.accessSync(suiteDir);
} catch (e) {
  console.error(`ajv_cases.js: a peer is missing (run npm ci at the repository root): ${e.message}`);
  process.exit(1);
}

function makeAjv(cls) {
  const ajv = new cls({ strict: false, allErrors: false, validateFormats: true });
  addFormats(ajv);
  return ajv;
}
const ajv07 = makeAjv(Ajv);
const ajv2020 = makeAjv(Ajv2020);

// oneOf read as anyOf, as the converter reads it.
function oneOfAsAnyOf(s) {
  if (Array.isArray(s)) return s.map(oneOfAsAnyOf);
  if (s === null || typeof s !== "object") return s;
  const out = {};
  for (const [k, v] of Object.entries(s)) out[k === "oneOf" ? "anyOf" : k] = oneOfAsAnyOf(v);
  return out;
}

function compile(ajv, schema) {
  try {
    return ajv.compile(schema);
  } catch (e) {
    return null;
  }
}

// Small edits of a valid instance: each key removed or given another type, an extra key, arrays
// shortened and lengthened, strings and numbers nudged. ajv decides which stay valid.
function mutations(x, depth = 0) {
  const out = [];
  const others = [null, 0, 1.5, -7, "", "x", true, [], {}];
  if (Array.isArray(x)) {
    if (x.length) out.push(x.slice(0, -1), [...x, x[x.length - 1]]);
    out.push([...x, null]);
    if (depth < 2) x.forEach((e, i) => mutations(e, depth + 1).slice(0, 6).forEach((m) => out.push(x.map((y, j) => (j === i ? m : y)))));
  } else if (x !== null && typeof x === "object") {
    for (const k of Object.keys(x)) {
      const rest = { ...x };
      delete rest[k];
      out.push(rest);
      for (const o of others) out.push({ ...x, [k]: o });
      if (depth < 2) mutations(x[k], depth + 1).slice(0, 6).forEach((m) => out.push({ ...x, [k]: m }));
    }
    out.push({ ...x, zz_extra: 1 });
  } else if (typeof x === "string") {
    out.push("", x + "x", x.slice(1), x.toUpperCase());
  } else if (typeof x === "number") {
    out.push(x + 1, x - 1, x * 10 + 0.5, -x);
  }
  return out;
}

function instances(validate, validateAnyOf, list) {
  const seen = new Set();
  const out = [];
  for (const [data, label] of list) {
    const text = JSON.stringify(data);
    if (text === undefined || seen.has(text)) continue;
    seen.add(text);
    let ajv, anyof;
    try {
      ajv = !!validate(data);
      anyof = !!validateAnyOf(data);
    } catch (e) {
      continue;  // ajv itself recurses without end (a left-recursive $ref): no verdict
    }
    out.push({ text, pretty: JSON.stringify(data, null, 2), label, ajv, anyof });
  }
  return out;
}

const cases = [];
for (const file of fs.readdirSync(path.join(__dirname, "schemas")).sort()) {
  if (!file.endsWith(".json")) continue;
  for (const c of JSON.parse(fs.readFileSync(path.join(__dirname, "schemas", file), "utf8"))) {
    const draft7 = typeof c.schema.$schema === "string" && c.schema.$schema.includes("draft-07");
    const ajv = draft7 ? ajv07 : ajv2020;
    const v = compile(ajv, c.schema);
    const va = compile(ajv, oneOfAsAnyOf(c.schema));
    const list = [...(c.valid || []).map((d) => [d, true]), ...(c.invalid || []).map((d) => [d, false])];
    for (const d of c.valid || []) mutations(d).slice(0, 60).forEach((m) => list.push([m, null]));
    cases.push({ source: file, name: c.name, schema: c.schema, refuse: c.refuse || null, ajv_error: !v,
                 instances: v && va ? instances(v, va, list) : [] });
  }
}
for (const dir of ["", "optional"]) {
  const d = path.join(suiteDir, dir);
  for (const file of fs.readdirSync(d).sort()) {
    if (!file.endsWith(".json")) continue;
    for (const group of JSON.parse(fs.readFileSync(path.join(d, file), "utf8"))) {
      const v = compile(ajv07, group.schema);
      const va = compile(ajv07, oneOfAsAnyOf(group.schema));
      const list = group.tests.map((t) => [t.data, t.valid]);
      cases.push({ source: `json-schema-test-suite/draft4/${dir ? dir + "/" : ""}${file}`, name: group.description,
                   schema: group.schema, refuse: null, ajv_error: !v, instances: v && va ? instances(v, va, list) : [] });
    }
  }
}
process.stdout.write(JSON.stringify(cases));
