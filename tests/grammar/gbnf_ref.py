#!/usr/bin/python3
"""An independent reference for the C++ grammar matcher (src/grammar/).

  /usr/bin/python3 tests/grammar/gbnf_ref.py GRAMMAR_CHECK_BINARY [GRAMMAR.gbnf ...]

For each grammar (by default every tests/grammar/grammars/*.gbnf) it generates strings: random
derivations of the grammar (positives), and mutations of them (mostly negatives: bytes inserted,
deleted, replaced, cut, spliced). A straightforward recursive-descent interpreter over bytes, written
without the C++ in view and without `re`, decides for each string whether it is a sentence and how
long its longest viable prefix is (a prefix some sentence starts with). The C++ side is the
`grammar_check` tool. Every string must get the same two answers; the exit status is 1 otherwise.
"""
import os
import random
import subprocess
import sys
import tempfile

sys.setrecursionlimit(100000)
MAX_CP = 0x10FFFF


# ---------------------------------------------------------------- parsing GBNF into tuples
# ('seq', [nodes]) ('alt', [nodes]) ('chars', [(lo, hi)], negated) ('ref', name) ('rep', node, min, max|None)

class GbnfError(Exception):
    pass


class Parser:
    ESC = {'n': 10, 't': 9, 'r': 13}

    def __init__(self, text):
        self.s = text
        self.i = 0
        self.rules = {}

    def space(self):
        while self.i < len(self.s):
            c = self.s[self.i]
            if c in ' \t\r\n':
                self.i += 1
            elif c == '#':
                while self.i < len(self.s) and self.s[self.i] != '\n':
                    self.i += 1
            else:
                break

    def name_at(self, i):
        j = i
        while j < len(self.s) and (self.s[j].isascii() and (self.s[j].isalnum() or self.s[j] in '-_')):
            j += 1
        return self.s[i:j], j

    def is_definition(self):
        name, j = self.name_at(self.i)
        if not name:
            return False
        while j < len(self.s) and self.s[j] in ' \t\r\n':
            j += 1
        return self.s.startswith('::=', j)

    def parse(self):
        self.space()
        while self.i < len(self.s):
            name, self.i = self.name_at(self.i)
            self.space()
            if not self.s.startswith('::=', self.i):
                raise GbnfError(f'expected ::= at {self.i}')
            self.i += 3
            self.rules[name] = self.alternatives(nested=False)
            self.space()
        return self.rules

    def alternatives(self, nested):
        alts = [self.sequence(nested)]
        while True:
            self.space()
            if self.i < len(self.s) and self.s[self.i] == '|':
                self.i += 1
                alts.append(self.sequence(nested))
            else:
                return ('alt', alts)

    def sequence(self, nested):
        items = []
        while True:
            self.space()
            if self.i >= len(self.s) or self.s[self.i] in '|)' or self.is_definition():
                return ('seq', items)
            items.append(self.postfix(self.primary()))

    def primary(self):
        c = self.s[self.i]
        if c == '"':
            self.i += 1
            items = []
            while self.s[self.i] != '"':
                cp = self.char()
                items.append(('chars', [(cp, cp)], False))
            self.i += 1
            return ('seq', items)
        if c == '[':
            self.i += 1
            neg = self.s[self.i] == '^'
            if neg:
                self.i += 1
            ranges = []
            while self.s[self.i] != ']':
                lo = self.char()
                hi = lo
                if self.s[self.i] == '-' and self.s[self.i + 1] != ']':
                    self.i += 1
                    hi = self.char()
                ranges.append((lo, hi))
            self.i += 1
            return ('chars', ranges, neg)
        if c == '.':
            self.i += 1
            return ('chars', [], True)
        if c == '(':
            self.i += 1
            node = self.alternatives(nested=True)
            self.space()
            assert self.s[self.i] == ')'
            self.i += 1
            return node
        name, self.i = self.name_at(self.i)
        if not name:
            raise GbnfError(f'unexpected {c!r}')
        return ('ref', name)

    def char(self):
        c = self.s[self.i]
        self.i += 1
        if c != '\\':
            return ord(c)
        e = self.s[self.i]
        self.i += 1
        if e in self.ESC:
            return self.ESC[e]
        width = {'x': 2, 'u': 4, 'U': 8}.get(e)
        if width:
            v = int(self.s[self.i:self.i + width], 16)
            self.i += width
            return v
        return ord(e)

    def postfix(self, node):
        while self.i < len(self.s):
            c = self.s[self.i]
            if c == '*':
                node = ('rep', node, 0, None)
            elif c == '+':
                node = ('rep', node, 1, None)
            elif c == '?':
                node = ('rep', node, 0, 1)
            elif c == '{':
                j = self.s.index('}', self.i)
                parts = [p.strip() for p in self.s[self.i + 1:j].split(',')]
                lo = int(parts[0])
                hi = lo if len(parts) == 1 else (int(parts[1]) if parts[1] else None)
                node = ('rep', node, lo, hi)
                self.i = j
            else:
                return node
            self.i += 1
        return node


# ---------------------------------------------------------------- characters
def in_class(cp, ranges, neg):
    if 0xD800 <= cp <= 0xDFFF or cp > MAX_CP:
        return False
    inside = any(lo <= cp <= hi for lo, hi in ranges)
    return inside != neg


def class_meets(lo, hi, ranges, neg):
    """Does some code point in [lo, hi] belong to the class?"""
    pieces = [(lo, min(hi, 0xD7FF)), (max(lo, 0xE000), hi)]
    for a, b in pieces:
        if a > b:
            continue
        if not neg:
            if any(max(a, r0) <= min(b, r1) for r0, r1 in ranges):
                return True
        else:  # is [a, b] not entirely covered by the ranges?
            x = a
            for r0, r1 in sorted(ranges):
                if r1 < x:
                    continue
                if r0 > x:
                    return True
                x = r1 + 1
                if x > b:
                    break
            if x <= b:
                return True
    return False


SEQ_LEN = [(0x00, 0x7F, 1, 0), (0xC2, 0xDF, 2, 0x80), (0xE0, 0xEF, 3, 0x800), (0xF0, 0xF4, 4, 0x10000)]


def match_char(data, pos, ranges, neg):
    """(end positions, partial) for one character of the class at data[pos:]."""
    n = len(data)
    if pos >= n:
        return set(), True
    b = data[pos]
    for lead_lo, lead_hi, length, minimum in SEQ_LEN:
        if lead_lo <= b <= lead_hi:
            break
    else:
        return set(), False
    avail = data[pos:pos + length]
    if any(not (0x80 <= c <= 0xBF) for c in avail[1:]):
        return set(), False
    value = b & (0x7F >> (length - 1) if length > 1 else 0x7F)
    if length == 1:
        value = b
    for c in avail[1:]:
        value = (value << 6) | (c & 0x3F)
    missing = length - len(avail)
    if missing == 0:
        if value < minimum or value > MAX_CP:
            return set(), False
        return ({pos + length} if in_class(value, ranges, neg) else set()), False
    lo = max(value << (6 * missing), minimum)
    hi = min((value << (6 * missing)) | ((1 << (6 * missing)) - 1), MAX_CP)
    return set(), lo <= hi and class_meets(lo, hi, ranges, neg)


# ---------------------------------------------------------------- matching
class Matcher:
    def __init__(self, rules, data):
        self.rules = rules
        self.data = data
        self.memo = {}

    def m(self, node, pos):
        kind = node[0]
        if kind == 'chars':
            return match_char(self.data, pos, node[1], node[2])
        if kind == 'seq':
            positions, partial = {pos}, False
            for child in node[1]:
                nxt = set()
                for p in positions:
                    e, pa = self.m(child, p)
                    nxt |= e
                    partial = partial or pa
                positions = nxt
                if not positions:
                    break
            return positions, partial
        if kind == 'alt':
            ends, partial = set(), False
            for child in node[1]:
                e, pa = self.m(child, pos)
                ends |= e
                partial = partial or pa
            return ends, partial
        if kind == 'ref':
            key = (node[1], pos)
            if key not in self.memo:
                self.memo[key] = self.m(self.rules[node[1]], pos)
            return self.memo[key]
        _, child, lo, hi = node
        ends = {pos} if lo == 0 else set()
        partial = False
        reach, seen, k = {pos}, set(), 0
        while reach and (hi is None or k < hi):
            k += 1
            nxt = set()
            for p in reach:
                e, pa = self.m(child, p)
                nxt |= e
                partial = partial or pa
            if k >= lo:
                ends |= nxt
                if hi is None:
                    nxt -= seen
                    seen |= nxt
            reach = nxt
        return ends, partial


def viable(rules, data):
    ends, partial = Matcher(rules, data).m(('ref', 'root'), 0)
    return len(data) in ends or partial


def accepts(rules, data):
    ends, _ = Matcher(rules, data).m(('ref', 'root'), 0)
    return len(data) in ends


def longest_viable_prefix(rules, data):
    lo, hi = 0, len(data)  # viable prefixes are closed under taking prefixes: bisect
    if viable(rules, data):
        return len(data)
    while lo < hi:
        mid = (lo + hi + 1) // 2
        if viable(rules, data[:mid]):
            lo = mid
        else:
            hi = mid - 1
    return lo


# ---------------------------------------------------------------- generating strings
PALETTE = [0x20, 0x41, 0x7A, 0x22, 0x5C, 0x0A, 0x7F, 0xE9, 0x436, 0x7FF, 0x800, 0x4E2D, 0xFFFF, 0x10000,
           0x1F600, 0x10FFFF, 0x3C, 0x3E, 0x09, 0x31]


def shortest(rules):
    """Rough minimal derivation cost per node (to steer generation towards termination)."""
    cost = {name: float('inf') for name in rules}

    def c(node):
        k = node[0]
        if k == 'chars':
            return 1
        if k == 'seq':
            return sum(c(x) for x in node[1])
        if k == 'alt':
            return min(c(x) for x in node[1])
        if k == 'ref':
            return cost[node[1]] + 1
        return node[2] * c(node[1])

    for _ in range(len(rules) + 2):
        for name, body in rules.items():
            cost[name] = min(cost[name], c(body))
    return c


def size(node, rules=None):
    """Number of nodes; with `rules`, a reference counts its rule's body (one level deep)."""
    k = node[0]
    if k in ('seq', 'alt'):
        return 1 + sum(size(x, rules) for x in node[1])
    if k == 'rep':
        return 1 + size(node[1], rules)
    if k == 'ref' and rules is not None:
        return 1 + size(rules[node[1]])
    return 1


def generate(rules, rng, max_depth=8):
    cost = shortest(rules)
    out = []

    def gen(node, depth):
        k = node[0]
        if k == 'chars':
            _, ranges, neg = node
            cands = []
            if rng.random() < 0.3 or neg:
                cands = [cp for cp in PALETTE + [rng.randint(0, MAX_CP) for _ in range(20)] if in_class(cp, ranges, neg)]
            while not cands:
                lo, hi = rng.choice(ranges)
                cands = [cp for cp in (rng.randint(lo, hi) for _ in range(8)) if in_class(cp, ranges, neg)]
            out.append(chr(rng.choice(cands)).encode('utf-8'))
        elif k == 'seq':
            for x in node[1]:
                gen(x, depth)
        elif k == 'alt':
            alts = node[1]
            if depth > max_depth:
                best = min(cost(a) for a in alts)
                alts = [a for a in alts if cost(a) == best]
                gen(rng.choice(alts), depth)
            else:  # bigger alternatives more often, so that documents nest
                gen(rng.choices(alts, weights=[size(a, rules) for a in alts])[0], depth)
        elif k == 'ref':
            gen(rules[node[1]], depth + 1)
        else:
            _, child, lo, hi = node
            top = lo if depth > max_depth else (hi if hi is not None else lo + 3)
            count = rng.randint(lo, max(lo, min(top, lo + 3)))
            if count == 0 and top > 0 and depth < max_depth // 2 and rng.random() < 0.7:
                count = 1  # nest while shallow
            for _ in range(count):
                gen(child, depth + 1)

    gen(('ref', 'root'), 0)
    return b''.join(out)


NOISE = [b'"', b'{', b'}', b'[', b']', b',', b'\\', b' ', b'\xff', b'\xc3', b'\xa9', b'\xe4\xb8', b'\xed\xa0\x80',
         b'\xf0\x9f\x98\x80', b'0', b'a', b'\x00', b'\n', b'(', b')', b'.']


def mutate(s, other, rng):
    op = rng.randrange(6)
    i = rng.randint(0, len(s))
    if op == 0:
        return s[:i] + rng.choice(NOISE) + s[i:]
    if op == 1 and s:
        return s[:i] + s[i + 1:]
    if op == 2 and s:
        return s[:i] + rng.choice(NOISE) + s[i + 1:]
    if op == 3:
        return s[:i]
    if op == 4:
        return s[:i] + other[rng.randint(0, len(other)):]
    return s + rng.choice(NOISE)


def run_grammar(binary, path, rng, n_pos, n_neg):
    text = open(path, encoding='utf-8').read()
    rules = Parser(text).parse()
    positives = [generate(rules, rng) for _ in range(n_pos)]
    strings = list(positives)
    for _ in range(n_neg):
        a, b = rng.choice(positives), rng.choice(positives)
        s = mutate(a, b, rng)
        if rng.random() < 0.3:
            s = mutate(s, a, rng)
        strings.append(s)
    with tempfile.NamedTemporaryFile('w', suffix='.txt', delete=False) as f:
        for s in strings:
            f.write(s.hex() + '\n')
        listing = f.name
    try:
        res = subprocess.run([binary, path, listing], capture_output=True, text=True, timeout=600)
    finally:
        os.unlink(listing)
    if res.returncode != 0:
        print(f'{path}: grammar_check failed ({res.returncode}): {res.stderr.strip()}')
        return False
    got = res.stdout.split('\n')[:len(strings)]
    if len(got) != len(strings):
        print(f'{path}: grammar_check printed {len(got)} lines for {len(strings)} strings')
        return False
    bad = 0
    n_accept = 0
    for s, line in zip(strings, got):
        want_acc = accepts(rules, s)
        n_accept += want_acc
        want = f'{longest_viable_prefix(rules, s)} {int(want_acc)}'
        if line.strip() != want:
            bad += 1
            if bad <= 10:
                print(f'{path}: MISMATCH on {s!r}: python says "{want}", C++ says "{line.strip()}"')
    rejected_positives = sum(1 for s in positives if not accepts(rules, s))
    print(f'{os.path.basename(path)}: {len(strings)} strings ({n_accept} sentences, '
          f'{len(strings) - n_accept} not), {bad} disagreements')
    if rejected_positives:
        print(f'{path}: {rejected_positives} generated positives are rejected by the reference itself')
        return False
    if n_accept == len(strings) or n_accept == 0:
        print(f'{path}: the strings are all accepted or all rejected: the test would prove nothing')
        return False
    return bad == 0


def main():
    if len(sys.argv) < 2:
        sys.exit(__doc__)
    binary = sys.argv[1]
    here = os.path.dirname(os.path.abspath(__file__))
    paths = sys.argv[2:] or sorted(os.path.join(here, 'grammars', f) for f in os.listdir(os.path.join(here, 'grammars'))
                                   if f.endswith('.gbnf'))
    if not paths:
        sys.exit('no grammars found')
    rng = random.Random(int(os.environ.get('GBNF_REF_SEED', '1234')))
    n = int(os.environ.get('GBNF_REF_STRINGS', '200'))
    ok = all([run_grammar(binary, p, rng, n, n) for p in paths])
    print('all agree' if ok else 'FAILED')
    sys.exit(0 if ok else 1)


if __name__ == '__main__':
    main()
