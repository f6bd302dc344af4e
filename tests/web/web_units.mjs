// The web page's modules under node, without a browser: Markdown (and that no model output becomes
// markup), the SSE reader, the reply accumulator and its speed, the request built from the settings,
// and the localStorage format.
import assert from 'node:assert/strict';
import path from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';

const web = path.join(path.dirname(fileURLToPath(import.meta.url)), '..', '..', 'web');
const { escapeHtml, renderMarkdown } = await import(pathToFileURL(path.join(web, 'markdown.mjs')));
const { Reply, buildChatRequest, sseEvents, errorOf, ApiError } = await import(pathToFileURL(path.join(web, 'chat_api.mjs')));
const store = await import(pathToFileURL(path.join(web, 'store.mjs')));

let failed = 0, passed = 0;
async function test(name, fn) {
  try {
    await fn();
    passed++;
  } catch (e) {
    failed++;
    console.log(`FAIL ${name}: ${e.stack ?? e}`);
  }
}

// Every tag in `html` is one renderMarkdown writes, with only the attributes it writes.
const TAGS = new Set(['p', 'br', 'h1', 'h2', 'h3', 'h4', 'h5', 'h6', 'hr', 'blockquote', 'ul', 'ol', 'li', 'pre', 'code',
                      'strong', 'em', 'del', 'a']);
function assertSafe(html, source) {
  for (const m of html.matchAll(/<\/?([a-zA-Z0-9]+)([^>]*)>/g)) {
    const [tag, name, attrs] = m;
    assert.ok(TAGS.has(name), `tag <${name}> from ${JSON.stringify(source)}: ${html}`);
    const rest = attrs
      .replace(/ href="https?:\/\/[^"<>\s]*"/, '')
      .replace(/ target="_blank"/, '')
      .replace(/ rel="noopener noreferrer"/, '')
      .replace(/ class="language-[\w+#.-]*"/, '')
      .replace(/ start="\d+"/, '');
    assert.ok(rest === '' || rest === '/', `attributes '${attrs}' in ${tag} from ${JSON.stringify(source)}`);
  }
  // What is left outside tags holds no raw < or > (all escaped).
  assert.ok(!/[<>]/.test(html.replace(/<\/?[a-zA-Z0-9]+[^>]*>/g, '')), html);
}

await test('escapeHtml', () => {
  assert.equal(escapeHtml(`<a href="x">'&'</a>`), '&lt;a href=&quot;x&quot;&gt;&#39;&amp;&#39;&lt;/a&gt;');
});

await test('markdown: features', () => {
  const cases = [
    ['# Title', '<h1>Title</h1>'],
    ['### Three ###', '<h3>Three</h3>'],
    ['a **b** *c* _d_ ~~e~~ `f`', '<p>a <strong>b</strong> <em>c</em> <em>d</em> <del>e</del> <code>f</code></p>'],
    ['snake_case_name and 2*3*4', '<p>snake_case_name and 2<em>3</em>4</p>'],
    ['line one\nline two\n\nnext', '<p>line one<br>line two</p><p>next</p>'],
    ['- a\n- b\n  more\n* c', '<ul><li>a</li><li>b<br>more</li><li>c</li></ul>'],
    ['3. x\n4. y', '<ol start="3"><li>x</li><li>y</li></ol>'],
    ['> q\n> r', '<blockquote><p>q<br>r</p></blockquote>'],
    ['---', '<hr>'],
    ['```python\nif a < b:\n    print("**x**")\n```\nafter', '<pre><code class="language-python">if a &lt; b:\n    print(&quot;**x**&quot;)</code></pre><p>after</p>'],
    ['```\nstill streaming', '<pre><code>still streaming</code></pre>'],
    ['`` a ` b ``', '<p><code> a ` b </code></p>'],
    ['see [docs](https://example.com/a_b_?x=1&y=2)', '<p>see <a href="https://example.com/a_b_?x=1&amp;y=2" target="_blank" rel="noopener noreferrer">docs</a></p>'],
    ['', ''],
  ];
  for (const [md, html] of cases) {
    assert.equal(renderMarkdown(md), html, JSON.stringify(md));
    assertSafe(renderMarkdown(md), md);
  }
});

await test('markdown: model output never becomes markup', () => {
  const hostile = [
    '<script>alert(1)</script>',
    '<img src=x onerror=alert(1)>',
    '<a href="javascript:alert(1)">x</a>',
    '[x](javascript:alert(1))',
    '[x](javascript:void0)',
    '[x](data:text/html;base64,PHNjcmlwdD4=)',
    '[x](//evil.example/)',
    '[x](https://a.example/" onmouseover="alert(1))',
    '[x](https://a.example/"onmouseover="alert(1)")',
    '![img](https://a.example/x.png)',
    '```"><script>alert(1)</script>\ncode\n```',
    '```js\n</code></pre><script>alert(1)</script>\n```',
    '`</code><img src=x onerror=alert(1)>`',
    '**<b onclick=alert(1)>bold</b>**',
    '# <iframe src=//evil>',
    '- <svg onload=alert(1)>',
    '> <style>body{display:none}</style>',
    '\u0000 0\u0000 [a](https://x.example)',
    '<!-- comment --> &lt;already&gt; &amp;',
  ];
  for (const md of hostile) {
    const html = renderMarkdown(md);
    assertSafe(html, md);
    assert.ok(!/javascript:/i.test(html.replace(/&[a-z#0-9]+;/g, '')) || !/<a /.test(html), html);
  }
  // A javascript: link stays text.
  assert.equal(renderMarkdown('[x](javascript:alert(1))'), '<p>[x](javascript:alert(1))</p>');
});

function streamOf(chunks) {
  const enc = new TextEncoder();
  return new ReadableStream({
    start(c) {
      for (const x of chunks) c.enqueue(typeof x === 'string' ? enc.encode(x) : x);
      c.close();
    },
  });
}
async function collect(stream) {
  const out = [];
  for await (const e of sseEvents(stream)) out.push(e);
  return out;
}

await test('sse: events split anywhere, comments, CRLF, [DONE]', async () => {
  const text = ': keep-alive\n\ndata: {"a":1}\n\ndata: {"b":"é€"}\r\n\r\n: keep-alive\n\ndata: {"c":\ndata: 3}\n\ndata: [DONE]\n\ndata: {"after":1}\n\n';
  const bytes = new TextEncoder().encode(text);
  const expected = [{ a: 1 }, { b: 'é€' }, { c: 3 }];
  for (const size of [1, 2, 3, 7, bytes.length]) {
    const chunks = [];
    for (let i = 0; i < bytes.length; i += size) chunks.push(bytes.slice(i, i + size));
    assert.deepEqual(await collect(streamOf(chunks)), expected, `chunks of ${size} bytes`);
  }
  assert.deepEqual(await collect(streamOf(['data: {"x":1}\n\n'])), [{ x: 1 }], 'ends without [DONE]');
});

await test('reply: content, reasoning, tool calls, usage, speed', () => {
  let t = 1000;
  const r = new Reply(() => t);
  t = 1250;
  r.add({ choices: [{ index: 0, delta: { role: 'assistant', content: '' } }] });
  assert.equal(r.chunks, 0);
  r.add({ choices: [{ index: 0, delta: { reasoning_content: 'hmm ' } }] });
  t = 1500;
  r.add({ choices: [{ index: 0, delta: { reasoning_content: 'ok' } }] });
  r.add({ choices: [{ index: 0, delta: { content: 'Hi' } }] });
  t = 2250;
  r.add({ choices: [{ index: 0, delta: { tool_calls: [{ index: 0, id: 'call_0', type: 'function', function: { name: 'f', arguments: '{"a":' } }] } }] });
  r.add({ choices: [{ index: 0, delta: { tool_calls: [{ index: 0, function: { arguments: '1}' } }] } }] });
  r.add({ choices: [{ index: 0, delta: {}, finish_reason: 'tool_calls' }] });
  r.add({ choices: [], usage: { prompt_tokens: 5, completion_tokens: 10, total_tokens: 15 } });
  assert.equal(r.reasoning, 'hmm ok');
  assert.equal(r.content, 'Hi');
  assert.deepEqual(r.tool_calls, [{ id: 'call_0', name: 'f', arguments: '{"a":1}' }]);
  assert.equal(r.finish, 'tool_calls');
  const s = r.stats();
  assert.equal(s.tokens, 10);
  assert.equal(s.exact, true);
  assert.equal(s.firstTokenMs, 250);
  assert.equal(s.tokensPerSecond, 9 / 1.0);  // 9 tokens after the first, in 1.0 s
  const stopped = new Reply(() => 0);
  stopped.add({ choices: [{ index: 0, delta: { content: 'a' } }] });
  assert.deepEqual(stopped.stats(), { tokens: 1, exact: false, tokensPerSecond: null, firstTokenMs: 0 });
  assert.throws(() => r.add({ error: { message: 'boom', param: 'x' } }), (e) => e instanceof ApiError && e.param === 'x');
  // All in one read, 200 ms after the request: 4 tokens / 0.2 s.
  let u = 0;
  const burst = new Reply(() => u);
  u = 200;
  for (const c of ['a', 'b', 'c']) burst.add({ choices: [{ index: 0, delta: { content: c } }] });
  burst.add({ choices: [{ index: 0, delta: {}, finish_reason: 'length' }], usage: { completion_tokens: 4 } });
  assert.equal(burst.stats().tokensPerSecond, 20);
});

await test('request: from the conversation and the settings', () => {
  const msgs = [
    { role: 'user', content: 'q1' },
    { role: 'assistant', content: 'a1', reasoning: 'r', tool_calls: [{ id: 'c0', name: 'f', arguments: '{}' }] },
    { role: 'user', content: 'q2' },
    { role: 'assistant', content: '', error: 'failed' },
    { role: 'user', content: 'q3' },
  ];
  const body = buildChatRequest(msgs, { ...store.DEFAULT_SETTINGS, system: 'be brief', temperature: ' 0.5 ', top_k: '40', seed: '-3', thinking: false, tools: '[{"type":"function","function":{"name":"f"}}]' });
  assert.deepEqual(body, {
    messages: [
      { role: 'system', content: 'be brief' },
      { role: 'user', content: 'q1' },
      { role: 'assistant', content: 'a1', tool_calls: [{ id: 'c0', type: 'function', function: { name: 'f', arguments: '{}' } }] },
      { role: 'user', content: 'q2' },
      { role: 'user', content: 'q3' },
    ],
    stream: true,
    stream_options: { include_usage: true },
    chat_template_kwargs: { enable_thinking: false },
    temperature: 0.5,
    top_k: 40,
    seed: -3,
    tools: [{ type: 'function', function: { name: 'f' } }],
  });
  const plain = buildChatRequest([{ role: 'user', content: 'x' }], store.DEFAULT_SETTINGS);
  assert.deepEqual(Object.keys(plain).sort(), ['chat_template_kwargs', 'messages', 'stream', 'stream_options']);
  assert.equal(plain.chat_template_kwargs.enable_thinking, true);
  assert.throws(() => buildChatRequest([], { max_tokens: '1.5' }), /max_tokens: '1.5' is not an integer/);
  assert.throws(() => buildChatRequest([], { top_p: 'high' }), /top_p: 'high' is not a number/);
  assert.throws(() => buildChatRequest([], { tools: '{"a":' }), /tools: not valid JSON/);
  assert.throws(() => buildChatRequest([], { tools: '{}' }), /tools: must be a JSON array/);
});

await test('errorOf: the OpenAI error JSON, or the status', async () => {
  const e = await errorOf(new Response('{"error":{"message":"bad","param":"top_p"}}', { status: 400 }));
  assert.equal(e.status, 400);
  assert.equal(e.message, 'bad');
  assert.equal(e.param, 'top_p');
  const f = await errorOf(new Response('oops', { status: 502 }));
  assert.match(f.message, /HTTP 502: oops/);
});

await test('store: round trip, interrupted replies, unreadable data', () => {
  const mem = new Map();
  const storage = { getItem: (k) => (mem.has(k) ? mem.get(k) : null), setItem: (k, v) => mem.set(k, String(v)) };
  assert.deepEqual(store.loadConversations(storage), []);
  const a = store.newConversation(1), b = store.newConversation(2);
  a.messages.push({ role: 'user', content: '  Hello   there\nfriend ' });
  b.messages.push({ role: 'user', content: 'x'.repeat(100) }, { role: 'assistant', content: 'part', streaming: true });
  b.updated = 5;
  store.saveConversations([a, b], storage);
  const back = store.loadConversations(storage);
  assert.deepEqual(back.map((c) => c.id), [b.id, a.id]);
  assert.equal(back[0].messages[1].finish, 'interrupted');
  assert.equal(back[0].messages[1].streaming, undefined);
  assert.equal(store.titleOf(back[1]), 'Hello there friend');
  assert.equal(store.titleOf(back[0]).length, 48);
  assert.equal(store.titleOf(store.newConversation()), 'New chat');
  mem.set('qwen3.chat.conversations', '{not json');
  assert.deepEqual(store.loadConversations(storage), []);
  store.saveSettings({ ...store.DEFAULT_SETTINGS, temperature: '0.7', thinking: false, bogus: 1 }, storage);
  const s = store.loadSettings(storage);
  assert.equal(s.temperature, '0.7');
  assert.equal(s.thinking, false);
  assert.equal(s.bogus, undefined);
  mem.set('qwen3.chat.settings', '{"thinking": "no"}');
  assert.equal(store.loadSettings(storage).thinking, true);
});

console.log(`${passed} passed, ${failed} failed`);
process.exitCode = failed ? 1 : 0;
