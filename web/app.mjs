// The chat page: conversations (localStorage), the composer, streamed replies with their reasoning
// and tool calls, Stop and Regenerate, the settings panel. Talks only to its own server, by URLs
// relative to the page (so that it also works behind a proxy that serves it under a sub-path).
import { ApiError, authHeaders, buildChatRequest, errorOf, streamChat } from './chat_api.mjs';
import { renderMarkdown } from './markdown.mjs';
import { loadConversations, loadSettings, newConversation, saveConversations, saveSettings, titleOf } from './store.mjs';

const $ = (id) => document.getElementById(id);
const el = (tag, cls, text) => {
  const e = document.createElement(tag);
  if (cls) e.className = cls;
  if (text !== undefined) e.textContent = text;
  return e;
};

let conversations = loadConversations();
const settings = loadSettings();
let activeId = conversations[0]?.id ?? null;
let running = null;  // { controller, conversation, message } while a reply streams
const views = new WeakMap();  // message -> MessageView of the shown conversation

const active = () => conversations.find((c) => c.id === activeId) ?? null;

function notice(text) {
  const n = $('notice');
  n.textContent = text ?? '';
  n.hidden = !text;
}

let saveTimer = null;
function persist() {
  clearTimeout(saveTimer);
  saveTimer = null;
  try {
    saveConversations(conversations);
  } catch (e) {
    notice(`Could not save the conversations in this browser: ${e.message}`);
  }
}
// While a reply streams: at most one write a second.
function persistSoon() {
  saveTimer ??= setTimeout(persist, 1000);
}

// ---- One message on screen, updated in place while it streams (an opened reasoning fold stays open).
class MessageView {
  constructor(message) {
    this.m = message;
    this.root = el('div', `message ${message.role}`);
    if (message.role === 'user') {
      this.root.append(el('div', 'content', message.content));
      return;
    }
    this.reasoning = el('details', 'reasoning');
    this.reasoningLabel = el('summary');
    this.reasoningText = el('div', 'reasoning-text');
    this.reasoning.append(this.reasoningLabel, this.reasoningText);
    this.content = el('div', 'content');
    this.tools = el('div', 'tool-calls');
    this.error = el('div', 'error');
    this.stats = el('div', 'stats');
    this.root.append(this.reasoning, this.content, this.tools, this.error, this.stats);
    this.shown = {};
    this.update();
  }

  update() {
    const m = this.m;
    if (m.role !== 'assistant') return;
    this.root.classList.toggle('streaming', !!m.streaming);
    if (m.finish) this.root.dataset.finish = m.finish;
    this.reasoning.hidden = !m.reasoning;
    this.reasoningLabel.textContent = m.streaming && !m.content ? 'Thinking…' : 'Reasoning';
    if (this.shown.reasoning !== m.reasoning) this.reasoningText.textContent = this.shown.reasoning = m.reasoning ?? '';
    if (this.shown.content !== m.content) {
      this.content.innerHTML = renderMarkdown(this.shown.content = m.content ?? '');
      for (const pre of this.content.querySelectorAll('pre')) pre.append(copyButton(pre));
    }
    const calls = JSON.stringify(m.tool_calls ?? []);
    if (this.shown.calls !== calls) {
      this.shown.calls = calls;
      this.tools.replaceChildren(...(m.tool_calls ?? []).map(toolCallView));
    }
    this.error.hidden = !m.error;
    this.error.textContent = m.error ?? '';
    this.stats.textContent = statsText(m);
  }
}

function copyButton(pre) {
  const b = el('button', 'copy', 'Copy');
  b.type = 'button';
  b.addEventListener('click', () => navigator.clipboard?.writeText(pre.querySelector('code')?.textContent ?? ''));
  return b;
}

function toolCallView(call) {
  const box = el('div', 'tool-call');
  box.append(el('div', 'tool-name', `Tool call: ${call.name}`));
  let args = call.arguments;
  try {
    args = JSON.stringify(JSON.parse(args), null, 2);
  } catch { /* shown as sent */ }
  box.append(el('pre', 'tool-arguments', args));
  return box;
}

function statsText(m) {
  if (m.streaming) return '';
  const s = m.stats;
  const parts = [];
  if (s && s.tokens) {
    parts.push(`${s.exact ? '' : '≈'}${s.tokens} tokens`);
    if (s.tokensPerSecond) parts.push(`${s.tokensPerSecond.toFixed(1)} tok/s`);
    if (s.firstTokenMs !== null) parts.push(`first token ${Math.round(s.firstTokenMs)} ms`);
  }
  if (m.finish && m.finish !== 'stop') parts.push(m.finish);
  return parts.join(' · ');
}

// ---- Rendering the list and the conversation.
function renderList() {
  const items = conversations.map((c) => {
    const li = el('li', c.id === activeId ? 'active' : '');
    const open = el('button', 'title', titleOf(c));
    open.type = 'button';
    open.addEventListener('click', () => select(c.id));
    const del = el('button', 'delete', '×');
    del.type = 'button';
    del.title = 'Delete this conversation';
    del.setAttribute('aria-label', del.title);
    del.addEventListener('click', () => remove(c.id));
    li.append(open, del);
    return li;
  });
  $('conversations').replaceChildren(...items);
}

function renderMessages() {
  const c = active();
  const box = $('messages');
  box.replaceChildren(...(c ? c.messages : []).map((m) => {
    const v = new MessageView(m);
    views.set(m, v);
    return v.root;
  }));
  box.scrollTop = box.scrollHeight;
  setBusy(!!running);
}

function render() {
  renderList();
  renderMessages();
}

let frame = 0;
function updateStreaming() {
  if (frame) return;
  frame = requestAnimationFrame(() => {
    frame = 0;
    if (!running) return;
    const box = $('messages');
    const atBottom = box.scrollHeight - box.scrollTop - box.clientHeight < 80;
    views.get(running.message)?.update();
    if (atBottom) box.scrollTop = box.scrollHeight;
  });
}

function setBusy(busy) {
  const c = active();
  $('send').disabled = busy;
  $('stop').hidden = !busy;
  $('regenerate').disabled = busy || !c || !c.messages.some((m) => m.role === 'user');
}

function select(id) {
  activeId = id;
  render();
}

function remove(id) {
  if (running && running.conversation.id === id) running.controller.abort();
  conversations = conversations.filter((c) => c.id !== id);
  if (activeId === id) activeId = conversations[0]?.id ?? null;
  persist();
  render();
}

// ---- Sending, streaming, stopping.
async function generate(conversation, request) {
  const message = { role: 'assistant', content: '', reasoning: '', tool_calls: [], streaming: true };
  conversation.messages.push(message);
  conversation.updated = Date.now();
  const controller = new AbortController();
  running = { controller, conversation, message };
  persist();
  render();
  let reply = null;
  try {
    reply = await streamChat({
      body: request,
      apiKey: settings.apiKey,
      signal: controller.signal,
      onUpdate: (r) => {
        reply = r;
        Object.assign(message, { content: r.content, reasoning: r.reasoning, tool_calls: r.tool_calls });
        updateStreaming();
        persistSoon();
      },
    });
    message.finish = reply.finish ?? 'stop';
  } catch (e) {
    if (e.name === 'AbortError') {
      message.finish = 'stopped';
    } else {
      message.error = e instanceof ApiError && e.param ? `${e.message} (${e.param})` : e.message;
      message.finish = 'error';
      if (e.status === 401) notice('This server needs an API key: enter it in Settings.');
    }
  }
  if (reply) message.stats = reply.stats();
  delete message.streaming;
  running = null;
  persist();
  views.get(message)?.update();
  setBusy(false);
  renderList();
}

function request(messages) {
  try {
    return buildChatRequest(messages, settings);
  } catch (e) {
    notice(`Settings: ${e.message}`);
    return null;
  }
}

function send() {
  const input = $('input');
  const text = input.value;
  if (running || !text.trim()) return;
  let c = active();
  const user = { role: 'user', content: text };
  const body = request([...(c ? c.messages : []), user]);
  if (!body) return;
  notice('');
  if (!c) {
    c = newConversation();
    conversations.unshift(c);
    activeId = c.id;
  }
  c.messages.push(user);
  input.value = '';
  generate(c, body);
}

function regenerate() {
  const c = active();
  if (running || !c) return;
  const keep = [...c.messages];
  while (keep.length && keep[keep.length - 1].role !== 'user') keep.pop();
  if (!keep.length) return;
  const body = request(keep);
  if (!body) return;
  notice('');
  c.messages = keep;
  generate(c, body);
}

// ---- Settings and the model's name.
function bindSettings() {
  for (const key of Object.keys(settings)) {
    const input = $(`set-${key}`);
    if (!input) continue;
    const boolean = input.type === 'checkbox';
    if (boolean) input.checked = settings[key];
    else input.value = settings[key];
    input.addEventListener(boolean ? 'change' : 'input', () => {
      settings[key] = boolean ? input.checked : input.value;
      saveSettings(settings);
      if (key === 'apiKey') showModelSoon();
    });
  }
  $('toggle-settings').addEventListener('click', () => {
    const panel = $('settings');
    panel.hidden = !panel.hidden;
    $('toggle-settings').setAttribute('aria-expanded', String(!panel.hidden));
  });
}

async function showModel() {
  try {
    const res = await fetch('v1/models', { headers: authHeaders(settings.apiKey) });
    if (!res.ok) throw await errorOf(res);
    const model = (await res.json()).data?.[0];
    $('model').textContent = model ? `${model.id} · ${model.max_model_len} tokens of context` : 'no model';
    notice('');
  } catch (e) {
    if (e.status === 401) {
      notice('This server needs an API key: enter it in Settings.');
      $('settings').hidden = false;
    } else {
      notice(`The server did not answer: ${e.message}`);
    }
  }
}
let modelTimer = null;
function showModelSoon() {
  clearTimeout(modelTimer);
  modelTimer = setTimeout(showModel, 400);
}

$('composer').addEventListener('submit', (e) => {
  e.preventDefault();
  send();
});
$('input').addEventListener('keydown', (e) => {
  if (e.key === 'Enter' && !e.shiftKey && !e.isComposing) {
    e.preventDefault();
    send();
  }
});
$('stop').addEventListener('click', () => running?.controller.abort());
$('regenerate').addEventListener('click', regenerate);
$('new-chat').addEventListener('click', () => {
  activeId = null;
  render();
  $('input').focus();
});
bindSettings();
render();
showModel();
