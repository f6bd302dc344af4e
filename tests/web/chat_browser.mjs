// The web chat page in a real browser: Debian's chromium, headless, driven by puppeteer-core, against
// `qwen3 serve` on the tiny random model (random text: the checks are on structure, not content).
// The page asks for the API key, streams a reply that grows, stops one mid-stream (the server sees
// the disconnect), finds the conversation again after a reload, regenerates, starts and deletes a
// conversation, and renders stored reasoning, tool calls and hostile HTML without running any of it.
// Fails (never skips) without chromium or the npm package puppeteer-core.
import fs from 'node:fs';
import path from 'node:path';
import { check, finish, makeTinyModel, SANITIZED, startServer, stopAndCheck, tmpdir } from '../server/server_util.mjs';

const CHROMIUM = process.env.QWEN3_CHROMIUM || '/usr/bin/chromium';
let puppeteer;
try {
  puppeteer = (await import('puppeteer-core')).default;
} catch (e) {
  console.log(`FAIL: the npm package puppeteer-core is missing (npm ci at the repository root): ${e.message}`);
  process.exit(1);
}
if (!fs.existsSync(CHROMIUM)) {
  console.log(`FAIL: ${CHROMIUM} not found (apt-get install chromium: scripts/install-deps.sh)`);
  process.exit(1);
}

const KEY = 'web-test-key';
const slow = SANITIZED ? 4 : 1;
const tmp = tmpdir('qwen3_web_');
// A context of 32768 positions, so that a long reply runs for many seconds before it could end.
const model = makeTinyModel(path.join(tmp, 'tiny'), 3, ['--override', '{"max_position_embeddings": 32768}']);
const srv = await startServer(model, ['--api-key', KEY, '--kv-memory', '0.25', '--max-batch', '2']);
const browser = await puppeteer.launch({
  executablePath: CHROMIUM,
  headless: true,
  args: ['--no-sandbox', '--disable-gpu', '--disable-dev-shm-usage', '--no-first-run'],
  userDataDir: path.join(tmp, 'profile'),
});

try {
  const page = await browser.newPage();
  page.setDefaultTimeout(30000 * slow);
  const problems = [];
  page.on('pageerror', (e) => problems.push(`page error: ${e.message}`));
  page.on('console', (m) => {
    // The 401 of the first /v1/models (no key yet) is logged by the browser itself.
    if (m.type() === 'error' && !/status of 401/.test(m.text())) problems.push(`console: ${m.text()}`);
  });
  const chats = [];  // the bodies and headers of the page's /v1/chat/completions requests
  page.on('request', (r) => {
    if (r.url().endsWith('/v1/chat/completions')) chats.push({ body: JSON.parse(r.postData()), auth: r.headers().authorization });
  });

  const res = await page.goto(`${srv.url}/`);
  check('the page is served at /', res.status() === 200 && /text\/html/.test(res.headers()['content-type']), res.status());

  // No key yet: the page says so and opens the settings.
  await page.waitForFunction(() => /API key/.test(document.getElementById('notice').textContent));
  check('settings opened for the key', await page.$eval('#settings', (e) => !e.hidden));
  await page.type('#set-apiKey', KEY);
  await page.waitForFunction(() => /tiny/.test(document.getElementById('model').textContent));
  check('the notice is gone with the key', await page.$eval('#notice', (e) => e.hidden));

  const setField = async (id, value) => {
    await page.$eval(id, (e, v) => {
      e.value = v;
      e.dispatchEvent(new Event('input'));
    }, value);
  };
  const assistants = () => page.$$eval('.message.assistant', (all) => all.map((e) => ({
    text: e.querySelector('.content').textContent + e.querySelector('.reasoning-text').textContent,
    finish: e.dataset.finish ?? null,
    streaming: e.classList.contains('streaming'), stats: e.querySelector('.stats').textContent,
  })));
  const lastDone = () => page.waitForFunction(() => {
    const all = document.querySelectorAll('.message.assistant');
    const last = all[all.length - 1];
    return last && !last.classList.contains('streaming') && last.dataset.finish;
  });

  // 1. A short reply, streamed to its end (max_tokens), with its speed.
  await setField('#set-max_tokens', '24');
  await setField('#set-seed', '7');
  await page.click('#set-thinking');  // thinking off
  await page.type('#input', 'Hello there');
  await page.keyboard.press('Enter');
  await page.waitForSelector('.message.assistant');
  await lastDone();
  let a = await assistants();
  check('one reply', a.length === 1, a);
  check('the reply has text', a[0].text.length > 0, a[0]);
  check('the reply ran to max_tokens or its end', ['length', 'stop'].includes(a[0].finish), a[0]);
  check('tokens and tok/s shown', /24 tokens/.test(a[0].stats) && /tok\/s/.test(a[0].stats), a[0].stats);
  check('the request', chats.length === 1 && chats[0].auth === `Bearer ${KEY}` && chats[0].body.stream === true &&
        chats[0].body.max_tokens === 24 && chats[0].body.seed === 7 &&
        chats[0].body.chat_template_kwargs.enable_thinking === false &&
        chats[0].body.messages.length === 1 && chats[0].body.messages[0].content === 'Hello there', chats);

  // 2. A long reply: it appears, grows, and Stop ends it.
  await setField('#set-max_tokens', '20000');
  await page.click('#set-thinking');  // thinking on again
  await page.evaluate(() => {
    window.lengths = [];
    // The reply's text, its reasoning included (should the random model open a <think>).
    new MutationObserver(() => {
      const all = document.querySelectorAll('.message.assistant');
      if (all.length === 2)
        window.lengths.push(all[1].querySelector('.content').textContent.length +
                            all[1].querySelector('.reasoning-text').textContent.length);
    }).observe(document.getElementById('messages'), { subtree: true, childList: true, characterData: true });
  });
  await page.type('#input', 'Tell me a long story');
  await page.click('#send');
  await page.waitForFunction(() => {
    const l = window.lengths.filter((x) => x > 0);
    return l.length >= 3 && l[l.length - 1] > l[0];
  });
  check('Stop shown while streaming', await page.$eval('#stop', (e) => !e.hidden));
  check('Send disabled while streaming', await page.$eval('#send', (e) => e.disabled));
  await page.click('#stop');
  await lastDone();
  a = await assistants();
  const stopped = a[1];
  check('stopped', stopped.finish === 'stopped' && /stopped/.test(stopped.stats), stopped);
  check('Stop hidden again', await page.$eval('#stop', (e) => e.hidden));
  const lengths = await page.evaluate(() => window.lengths);
  check('the reply grew while streaming', new Set(lengths).size >= 3, lengths.slice(0, 20));
  await new Promise((r) => setTimeout(r, 500));
  check('nothing more after Stop', (await assistants())[1].text === stopped.text);
  check('the second request carried the history', chats.length === 2 && chats[1].body.messages.length === 3 &&
        chats[1].body.chat_template_kwargs.enable_thinking === true && chats[1].body.max_tokens === 20000, chats[1]?.body);
  // The server saw the client go and cancelled the generation (its log line says "disconnected").
  const end = Date.now() + 10000 * slow;
  while (!/finish disconnected/.test(srv.log()) && Date.now() < end) await new Promise((r) => setTimeout(r, 100));
  check('the server cancelled the stopped reply', /finish disconnected/.test(srv.log()), srv.log().slice(-1500));

  // 3. After a reload the conversation is in the list, with both replies as they were.
  await page.reload();
  await page.waitForSelector('#conversations li');
  const titles = await page.$$eval('#conversations li .title', (all) => all.map((e) => e.textContent));
  check('one conversation after reload', titles.length === 1 && titles[0] === 'Hello there', titles);
  await page.click('#conversations li .title');
  a = await assistants();
  check('replies restored', a.length === 2 && a[0].text.length > 0 && a[1].text === stopped.text &&
        a[1].finish === 'stopped', a);
  const users = await page.$$eval('.message.user .content', (all) => all.map((e) => e.textContent));
  check('user messages restored', users.join('|') === 'Hello there|Tell me a long story', users);

  // 4. Regenerate replaces the last reply.
  await setField('#set-max_tokens', '5');
  await page.click('#regenerate');
  await page.waitForFunction(() => document.querySelector('.message.assistant:last-child')?.dataset.finish !== 'stopped');
  await lastDone();
  a = await assistants();
  check('regenerated', a.length === 2 && ['length', 'stop'].includes(a[1].finish) && /5 tokens/.test(a[1].stats), a);
  check('regenerate resent the same turn', chats.length === 3 && chats[2].body.messages.length === 3 &&
        chats[2].body.messages[2].content === 'Tell me a long story', chats[2]?.body);

  // 5. A new conversation, then deleting the first one.
  await page.click('#new-chat');
  check('new chat is empty', (await page.$$('.message')).length === 0);
  await page.type('#input', 'second chat');
  await page.keyboard.press('Enter');
  await lastDone();
  let list = await page.$$eval('#conversations li .title', (all) => all.map((e) => e.textContent));
  check('two conversations, newest first', list.join('|') === 'second chat|Hello there', list);
  await page.click('#conversations li:nth-child(2) .delete');
  list = await page.$$eval('#conversations li .title', (all) => all.map((e) => e.textContent));
  check('deleted', list.join('|') === 'second chat', list);
  await page.reload();
  await page.waitForSelector('#conversations li');
  list = await page.$$eval('#conversations li .title', (all) => all.map((e) => e.textContent));
  check('deleted after reload too', list.join('|') === 'second chat', list);

  // 6. Stored reasoning, tool calls and hostile text, rendered without running anything.
  await page.evaluate(() => {
    const list = JSON.parse(localStorage.getItem('qwen3.chat.conversations'));
    list.unshift({ id: 'x', title: '', created: Date.now(), updated: Date.now() + 1, messages: [
      { role: 'user', content: '<img src=x onerror="window.pwned=1">' },
      { role: 'assistant', reasoning: 'Let me think <b>hard</b>', finish: 'tool_calls',
        content: '**bold** <img src=x onerror="window.pwned=2">\n\n```html\n<script>window.pwned=3</script>\n```',
        tool_calls: [{ id: 'call_0', name: 'get_weather', arguments: '{"city": "<Paris>"}' }] },
    ] });
    localStorage.setItem('qwen3.chat.conversations', JSON.stringify(list));
  });
  await page.reload();
  await page.waitForSelector('.message.assistant .tool-call');
  const shown = await page.evaluate(() => {
    const m = document.querySelector('.message.assistant');
    return {
      pwned: window.pwned ?? null,
      imgs: document.querySelectorAll('#messages img, #messages script').length,
      strong: m.querySelector('.content strong')?.textContent,
      code: m.querySelector('pre code')?.textContent,
      reasoningOpen: m.querySelector('details.reasoning').open,
      reasoning: m.querySelector('.reasoning-text').textContent,
      tool: m.querySelector('.tool-name').textContent,
      args: m.querySelector('.tool-arguments').textContent,
      user: document.querySelector('.message.user .content').textContent,
    };
  });
  check('no injected element ran or exists', shown.pwned === null && shown.imgs === 0, shown);
  check('markdown rendered', shown.strong === 'bold' && shown.code === '<script>window.pwned=3</script>', shown);
  check('reasoning folded apart', shown.reasoningOpen === false && shown.reasoning === 'Let me think <b>hard</b>', shown);
  check('tool call shown', shown.tool === 'Tool call: get_weather' && JSON.parse(shown.args).city === '<Paris>', shown);
  check('user text shown as typed', shown.user === '<img src=x onerror="window.pwned=1">', shown);
  check('no errors in the page', problems.length === 0, problems);
} catch (e) {
  check('browser session', false, e.stack ?? String(e));
} finally {
  await browser.close();
  await stopAndCheck(srv);
  fs.rmSync(tmp, { recursive: true, force: true });
  finish();
}
