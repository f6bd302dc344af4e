#!/usr/bin/python3
"""An independent reference matcher for GBNF text (llama.cpp's grammar syntax), for testing the
JSON Schema and regex converters of src/grammar/. Written from the GBNF documentation, not from any
converter or engine: it parses the text into plain BNF and runs an Earley recognizer over the code
points of the input (the same language as matching the UTF-8 bytes of those code points). No `re`.

  schema_ref_matcher.py --self-test
  schema_ref_matcher.py GRAMMAR.gbnf TEXT      prints accept / reject

As a module: Grammar(text).accepts(string) -> bool.
"""
import sys


class GbnfError(Exception):
    pass


ANY = ((0, 0x10FFFF),)


class _Parser:
    """GBNF text -> {rule: [alternative, ...]}, an alternative a tuple of symbols: a str (a rule
    name) or a tuple ('t', ranges, negated) for one character."""

    def __init__(self, text):
        self.s = text
        self.i = 0
        self.rules = {}
        self.fresh = 0

    def error(self, what):
        line = self.s.count("\n", 0, self.i) + 1
        raise GbnfError(f"line {line}: {what}")

    def skip(self):
        while self.i < len(self.s):
            c = self.s[self.i]
            if c in " \t\r\n":
                self.i += 1
            elif c == "#":
                while self.i < len(self.s) and self.s[self.i] != "\n":
                    self.i += 1
            else:
                break

    def name_at(self, i):
        j = i
        while j < len(self.s) and (self.s[j].isalnum() and self.s[j].isascii() or self.s[j] in "-_"):
            j += 1
        return self.s[i:j], j

    def rule_starts_here(self):
        name, j = self.name_at(self.i)
        if not name:
            return False
        while j < len(self.s) and self.s[j] in " \t":
            j += 1
        return self.s.startswith("::=", j)

    def new_rule(self, alts):
        self.fresh += 1
        name = f" g{self.fresh}"  # a space: cannot clash with a GBNF name
        self.rules[name] = alts
        return name

    def parse(self):
        self.skip()
        while self.i < len(self.s):
            name, j = self.name_at(self.i)
            if not name:
                self.error("expected a rule name")
            self.i = j
            self.skip()
            if not self.s.startswith("::=", self.i):
                self.error("expected ::=")
            self.i += 3
            if name in self.rules:
                self.error(f"rule {name} defined twice")
            self.rules[name] = self.alternatives(top=True)
            self.skip()
        for alts in self.rules.values():
            for alt in alts:
                for sym in alt:
                    if isinstance(sym, str) and sym not in self.rules:
                        raise GbnfError(f"undefined rule {sym}")
        if "root" not in self.rules:
            raise GbnfError("no root rule")
        return self.rules

    def alternatives(self, top):
        alts = [self.sequence(top)]
        while True:
            self.skip()
            if self.i < len(self.s) and self.s[self.i] == "|":
                self.i += 1
                alts.append(self.sequence(top))
            else:
                return alts

    def sequence(self, top):
        seq = []
        while True:
            self.skip()
            if self.i >= len(self.s) or self.s[self.i] in "|)":
                return tuple(seq)
            if top and self.rule_starts_here():
                return tuple(seq)
            atom = self.atom()
            seq.extend(self.postfix(atom))

    def atom(self):
        c = self.s[self.i]
        if c == '"':
            self.i += 1
            chars = []
            while True:
                if self.i >= len(self.s):
                    self.error("unterminated literal")
                if self.s[self.i] == '"':
                    self.i += 1
                    break
                chars.append(self.char())
            return [("t", ((cp, cp),), False) for cp in chars]
        if c == "[":
            self.i += 1
            negated = self.s.startswith("^", self.i)
            if negated:
                self.i += 1
            ranges = []
            while True:
                if self.i >= len(self.s):
                    self.error("unterminated class")
                if self.s[self.i] == "]":
                    self.i += 1
                    break
                lo = self.char()
                hi = lo
                if self.s.startswith("-", self.i) and not self.s.startswith("-]", self.i):
                    self.i += 1
                    hi = self.char()
                if hi < lo:
                    self.error("range out of order")
                ranges.append((lo, hi))
            return [("t", tuple(ranges), negated)]
        if c == ".":
            self.i += 1
            return [("t", ANY, False)]
        if c == "(":
            self.i += 1
            alts = self.alternatives(top=False)
            self.skip()
            if not self.s.startswith(")", self.i):
                self.error("expected )")
            self.i += 1
            return [self.new_rule(alts)]
        name, j = self.name_at(self.i)
        if not name:
            self.error(f"unexpected {c!r}")
        self.i = j
        return [name]

    def char(self):
        c = self.s[self.i]
        if c != "\\":
            self.i += 1
            return ord(c)
        e = self.s[self.i + 1] if self.i + 1 < len(self.s) else ""
        simple = {"n": 10, "t": 9, "r": 13, "\\": 92, '"': 34, "[": 91, "]": 93, "-": 45}
        if e in simple:
            self.i += 2
            return simple[e]
        width = {"x": 2, "u": 4, "U": 8}.get(e)
        if width is None:
            self.error(f"unknown escape \\{e}")
        digits = self.s[self.i + 2:self.i + 2 + width]
        if len(digits) != width or any(d not in "0123456789abcdefABCDEF" for d in digits):
            self.error("bad hex escape")
        self.i += 2 + width
        return int(digits, 16)

    def postfix(self, atom):
        """atom: a list of symbols (a literal is several). Applies * + ? {m,n} to the whole atom."""
        self.skip()
        if self.i >= len(self.s) or self.s[self.i] not in "*+?{":
            return atom
        c = self.s[self.i]
        self.i += 1
        if c == "*":
            lo, hi = 0, None
        elif c == "+":
            lo, hi = 1, None
        elif c == "?":
            lo, hi = 0, 1
        else:
            close = self.s.find("}", self.i)
            if close < 0:
                self.error("unterminated {")
            body = self.s[self.i:close].replace(" ", "")
            self.i = close + 1
            parts = body.split(",")
            if not parts[0].isdigit() or len(parts) > 2 or (len(parts) == 2 and parts[1] and not parts[1].isdigit()):
                self.error(f"bad repetition {{{body}}}")
            lo = int(parts[0])
            hi = lo if len(parts) == 1 else (int(parts[1]) if parts[1] else None)
            if hi is not None and hi < lo:
                self.error("repetition {m,n} with n < m")
        unit = tuple(atom)
        out = list(unit) * lo
        if hi is None:
            star = self.new_rule([()])
            self.rules[star] = [(), unit + (star,)]
            out.append(star)
        else:
            tail = None
            for _ in range(hi - lo):  # nested optionals: (x (x (x)?)?)?
                tail = self.new_rule([(), unit + ((tail,) if tail else ())])
            if tail:
                out.append(tail)
        if self.s.startswith(("*", "+", "?", "{"), self.i):
            self.error("two quantifiers in a row")
        return out


def _matches(term, cp):
    _, ranges, negated = term
    inside = any(lo <= cp <= hi for lo, hi in ranges)
    return inside != negated


class Grammar:
    def __init__(self, text):
        self.rules = _Parser(text).parse()
        self.nullable = set()
        changed = True
        while changed:
            changed = False
            for name, alts in self.rules.items():
                if name not in self.nullable and any(all(isinstance(s, str) and s in self.nullable for s in alt) for alt in alts):
                    self.nullable.add(name)
                    changed = True

    def accepts(self, text):
        """Earley recognition of `text` (a str) from the rule root."""
        cps = [ord(c) for c in text]
        rules = self.rules
        start = ("  start", 0)
        alts_of = {name: alts for name, alts in rules.items()}
        alts_of["  start"] = [("root",)]
        chart = [set() for _ in range(len(cps) + 1)]
        waiting = [dict() for _ in range(len(cps) + 1)]  # position -> rule -> items waiting on it
        chart[0].add(("  start", 0, 0, 0))
        for i in range(len(cps) + 1):
            work = list(chart[i])
            while work:
                item = work.pop()
                name, a, dot, origin = item
                alt = alts_of[name][a]
                if dot < len(alt):
                    sym = alt[dot]
                    if isinstance(sym, str):
                        waiting[i].setdefault(sym, []).append(item)
                        for b in range(len(alts_of[sym])):
                            new = (sym, b, 0, i)
                            if new not in chart[i]:
                                chart[i].add(new)
                                work.append(new)
                        if sym in self.nullable:
                            new = (name, a, dot + 1, origin)
                            if new not in chart[i]:
                                chart[i].add(new)
                                work.append(new)
                    elif i < len(cps) and _matches(sym, cps[i]):
                        chart[i + 1].add((name, a, dot + 1, origin))
                else:
                    for w in list(waiting[origin].get(name, ())):
                        wn, wa, wd, wo = w
                        new = (wn, wa, wd + 1, wo)
                        if new not in chart[i]:
                            chart[i].add(new)
                            work.append(new)
            if i < len(cps) and not chart[i + 1]:
                return False
        return ("  start", 0, 1, 0) in chart[len(cps)]


def sample(grammar, rng, budget=60):
    """A random string of the grammar's language (None when the derivation grows past `budget`
    symbols). For tests: strings the grammar accepts, to be checked against another oracle."""
    pool = [0x61, 0x41, 0x30, 0x20, 0x2D, 0x2E, 0x22, 0x5C, 0x0A, 0xE9, 0x65E5, 0x1F600]
    out = []
    stack = ["root"]
    steps = 0
    while stack:
        sym = stack.pop()
        steps += 1
        if steps > budget * 20:
            return None
        if isinstance(sym, str):
            alts = grammar.rules[sym]
            # Past the budget, prefer the shortest alternative so that the derivation ends.
            alt = min(alts, key=len) if len(out) + len(stack) > budget else rng.choice(alts)
            stack.extend(reversed(alt))
            continue
        _, ranges, negated = sym
        if negated or ranges == ANY:
            choices = [cp for cp in pool if _matches(sym, cp)]
            if not choices:
                return None
            out.append(rng.choice(choices))
        else:
            lo, hi = rng.choice(ranges)
            out.append(rng.choice([lo, hi, rng.randint(lo, hi)]))
    return "".join(chr(cp) for cp in out)


def _self_test():
    cases = [
        ('root ::= "ab" | "c"', {"ab": True, "c": True, "a": False, "abc": False, "": False}),
        ('root ::= [a-c]+ "x"?', {"abca": True, "ax": True, "x": False, "": False, "abxx": False}),
        ('root ::= [^a-c]*', {"": True, "xyz": True, "xaz": False, "é日": True}),
        ('root ::= ("a" | "b"){2,3}', {"ab": True, "bab": True, "a": False, "abab": False}),
        ('root ::= "x"{2,} "y"{3}', {"xxyyy": True, "xxxxxyyy": True, "xyyy": False, "xxyy": False}),
        ('root ::= item ("," item)*\nitem ::= [0-9]+\n# comment\n', {"1,22,333": True, "1,": False, ",1": False}),
        ('root ::= "\\"" [^"\\\\]* "\\""', {'"abc"': True, '"a"b"': False, '"a\\\\"': False}),
        ('root ::= [\\x41-\\x43] "\\u00e9" [\\U0001F600]', {"Bé😀": True, "Dé😀": False}),
        ('root ::= e\ne ::= e "+" t | t\nt ::= [0-9]', {"1+2+3": True, "1+": False, "+1": False}),  # left recursion
        ('root ::= a b\na ::= "x"?\nb ::= a "y"', {"y": True, "xy": True, "xxy": True, "xxxy": False}),
        ('root ::= ( "a" |\n "b" )\n  "c"', {"ac": True, "bc": True, "c": False}),
        ('root ::= "a" . "b"', {"a日b": True, "ab": False}),
        ('root ::= "" | "a"', {"": True, "a": True}),
        ('root ::= [-a]+ [\\]\\[]', {"-a-]": True, "a[": True, "b]": False}),
    ]
    failures = 0
    for text, expect in cases:
        g = Grammar(text)
        for s, want in expect.items():
            got = g.accepts(s)
            if got != want:
                failures += 1
                print(f"FAIL: {text!r} on {s!r}: got {got}, want {want}")
    for bad in ['root ::= "a', 'root ::= [a', 'root ::= x', 'a ::= "b"', 'root ::= "a"{3,2}', 'root ::= "\\q"']:
        try:
            Grammar(bad)
        except GbnfError:
            continue
        failures += 1
        print(f"FAIL: {bad!r} parsed")
    total = sum(len(e) for _, e in cases) + 6
    print(f"{total - failures} passed, {failures} failed")
    return 1 if failures else 0


def main(argv):
    if argv[1:] == ["--self-test"]:
        return _self_test()
    if len(argv) != 3:
        print(__doc__, file=sys.stderr)
        return 2
    with open(argv[1], encoding="utf-8") as f:
        g = Grammar(f.read())
    print("accept" if g.accepts(argv[2]) else "reject")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
