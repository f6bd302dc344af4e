// Conversations and settings, kept in the browser's localStorage (nothing is stored on the server).
//
// A conversation: { id, title, created, updated, messages: [message] }, a message:
//   { role: 'user', content }
//   { role: 'assistant', content, reasoning, tool_calls: [{ id, name, arguments }],
//     finish ('stop' | 'length' | 'tool_calls' | 'stopped' | 'interrupted' | ...), stats, error }

const CONVERSATIONS = 'qwen3.chat.conversations';
const SETTINGS = 'qwen3.chat.settings';

export const DEFAULT_SETTINGS = {
  apiKey: '',
  system: '',
  temperature: '',
  top_p: '',
  top_k: '',
  max_tokens: '',
  seed: '',
  thinking: true,
  tools: '',
};

function read(storage, key, fallback) {
  try {
    const text = storage.getItem(key);
    return text === null ? fallback : JSON.parse(text);
  } catch {
    return fallback;  // unreadable: start afresh rather than fail to open the page
  }
}

// Newest first. A reply that was still streaming when the page went away is marked interrupted.
export function loadConversations(storage = globalThis.localStorage) {
  const list = read(storage, CONVERSATIONS, []);
  if (!Array.isArray(list)) return [];
  const ok = list.filter((c) => c && typeof c.id === 'string' && Array.isArray(c.messages));
  for (const c of ok)
    for (const m of c.messages)
      if (m.streaming) {
        delete m.streaming;
        m.finish = 'interrupted';
      }
  return ok.sort((a, b) => (b.updated ?? 0) - (a.updated ?? 0));
}

// Throws (QuotaExceededError) when the browser's storage is full; the caller says so.
export function saveConversations(list, storage = globalThis.localStorage) {
  storage.setItem(CONVERSATIONS, JSON.stringify(list));
}

export function newConversation(now = Date.now()) {
  const id = globalThis.crypto?.randomUUID ? crypto.randomUUID() : `${now}-${Math.random().toString(36).slice(2)}`;
  return { id, title: '', created: now, updated: now, messages: [] };
}

export function titleOf(conversation) {
  if (conversation.title) return conversation.title;
  const first = conversation.messages.find((m) => m.role === 'user');
  if (!first) return 'New chat';
  const line = first.content.replace(/\s+/g, ' ').trim();
  return line.length > 48 ? `${line.slice(0, 47)}…` : line || 'New chat';
}

export function loadSettings(storage = globalThis.localStorage) {
  const saved = read(storage, SETTINGS, {});
  const out = { ...DEFAULT_SETTINGS };
  if (saved && typeof saved === 'object')
    for (const k of Object.keys(DEFAULT_SETTINGS))
      if (typeof saved[k] === typeof DEFAULT_SETTINGS[k]) out[k] = saved[k];
  return out;
}

export function saveSettings(settings, storage = globalThis.localStorage) {
  storage.setItem(SETTINGS, JSON.stringify(settings));
}
