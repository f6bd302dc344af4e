// The oracle for tests/grammar/regex_check.py: reads [{pattern, strings}] as JSON on stdin and
// writes, for each, whether JavaScript's RegExp with the u flag matches each string in full
// (guided_regex) and anywhere (JSON Schema `pattern`); {syntax_error} when RegExp refuses the pattern.
"use strict";
let input = "";
process.stdin.on("data", (d) => (input += d));
process.stdin.on("end", () => {
  const out = JSON.parse(input).map(({ pattern, strings }) => {
    let full, search;
    try {
      full = new RegExp(`^(?:${pattern})$`, "u");
      search = new RegExp(pattern, "u");
    } catch (e) {
      return { syntax_error: e.message };
    }
    return { full: strings.map((s) => full.test(s)), search: strings.map((s) => search.test(s)) };
  });
  process.stdout.write(JSON.stringify(out));
});
