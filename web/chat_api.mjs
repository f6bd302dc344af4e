// The page's side of qwen3 serve's OpenAI-compatible API: the /v1/chat/completions request built
// from a conversation and the settings, the SSE stream read into a reply, and its speed.

export class ApiError extends Error {
  constructor(status, message, param = null) {
    super(message);
    this.status = status;
    this.param = param;
  }
}

export function authHeaders(apiKey) {
  return apiKey ? { Authorization: `Bearer ${apiKey}` } : {};
}

// The sampling settings as typed in the page (strings; empty = the server's default, which comes
// from the model's generation_config.json).
const NUMBERS = [
  { key: 'temperature', integer: false },
  { key: 'top_p', integer: false },
  { key: 'top_k', integer: true },
  { key: 'max_tokens', integer: true },
  { key: 'seed', integer: true },
];

// messages: the conversation ([{ role: 'user' | 'assistant', content, tool_calls?, error? }]);
// settings: { system, temperature, top_p, top_k, max_tokens, seed, thinking, tools }. Throws an
// Error naming the setting when one is not a number or not JSON; the server checks the ranges.
export function buildChatRequest(messages, settings) {
  const body = {
    messages: [],
    stream: true,
    stream_options: { include_usage: true },
    chat_template_kwargs: { enable_thinking: settings.thinking !== false },
  };
  if (settings.system && settings.system.trim()) body.messages.push({ role: 'system', content: settings.system });
  for (const m of messages) {
    if (m.error) continue;  // a failed request's message is shown, never sent back
    if (m.role === 'user') {
      body.messages.push({ role: 'user', content: m.content });
    } else if (m.role === 'assistant') {
      const out = { role: 'assistant', content: m.content ?? '' };
      if (m.tool_calls && m.tool_calls.length)
        out.tool_calls = m.tool_calls.map((c) => ({ id: c.id, type: 'function', function: { name: c.name, arguments: c.arguments } }));
      body.messages.push(out);
    }
  }
  for (const { key, integer } of NUMBERS) {
    const text = String(settings[key] ?? '').trim();
    if (text === '') continue;
    const value = Number(text);
    if (!Number.isFinite(value) || (integer && !Number.isInteger(value)))
      throw new Error(`${key}: '${text}' is not ${integer ? 'an integer' : 'a number'}`);
    body[key] = value;
  }
  const tools = String(settings.tools ?? '').trim();
  if (tools) {
    let parsed;
    try {
      parsed = JSON.parse(tools);
    } catch (e) {
      throw new Error(`tools: not valid JSON (${e.message})`);
    }
    if (!Array.isArray(parsed)) throw new Error('tools: must be a JSON array of {"type": "function", "function": {...}}');
    if (parsed.length) body.tools = parsed;
  }
  return body;
}

// The JSON of each `data:` event of a server-sent event stream (a ReadableStream of bytes), until
// `data: [DONE]` or the end; comment lines (the server's keep-alives) are skipped.
export async function* sseEvents(stream) {
  const reader = stream.getReader();
  const decoder = new TextDecoder();
  let buffer = '';
  let data = [];
  try {
    for (;;) {
      const { value, done } = await reader.read();
      buffer += done ? decoder.decode() : decoder.decode(value, { stream: true });
      const lines = buffer.split(/\r\n|\r|\n/);
      buffer = done ? '' : lines.pop();
      for (const line of lines) {
        if (line === '') {
          if (data.length) {
            const text = data.join('\n');
            data = [];
            if (text === '[DONE]') return;
            yield JSON.parse(text);
          }
        } else if (line.startsWith('data:')) {
          data.push(line.slice(line[5] === ' ' ? 6 : 5));
        }
      }
      if (done) return;
    }
  } finally {
    reader.releaseLock();
  }
}

// One assistant reply as its chunks arrive (choice 0): answer, reasoning, tool calls, finish
// reason, usage, and the times of the first and last token.
export class Reply {
  constructor(now = () => performance.now()) {
    this.now = now;
    this.content = '';
    this.reasoning = '';
    this.tool_calls = [];
    this.finish = null;
    this.usage = null;
    this.chunks = 0;  // chunks that carried text or a tool call
    this.started = now();
    this.first = null;
    this.last = null;
  }

  add(event) {
    if (event.error) throw new ApiError(0, event.error.message ?? JSON.stringify(event.error), event.error.param);
    if (event.usage) this.usage = event.usage;
    const choice = (event.choices ?? []).find((c) => (c.index ?? 0) === 0);
    if (!choice) return;
    const d = choice.delta ?? {};
    let grew = false;
    if (d.reasoning_content) {
      this.reasoning += d.reasoning_content;
      grew = true;
    }
    if (d.content) {
      this.content += d.content;
      grew = true;
    }
    for (const c of d.tool_calls ?? []) {
      // Whole calls (as this server sends them) or OpenAI-style pieces of one, by index.
      const i = c.index ?? this.tool_calls.length;
      const call = (this.tool_calls[i] ??= { id: c.id ?? '', name: '', arguments: '' });
      if (c.id) call.id = c.id;
      if (c.function?.name) call.name += c.function.name;
      if (c.function?.arguments) call.arguments += c.function.arguments;
      grew = true;
    }
    if (grew) {
      this.chunks++;
      this.last = this.now();
      this.first ??= this.last;
    }
    if (choice.finish_reason) this.finish = choice.finish_reason;
  }

  // { tokens, exact, tokensPerSecond, firstTokenMs }: the server's count when it sent usage (a
  // reply that ran to its end), else the number of chunks (a stopped reply: about one token each).
  // The rate is over the tokens after the first, from the first token to the last; when they all
  // came in one read (a short, fast reply), over all of them from the request.
  stats() {
    const exact = !!this.usage;
    const tokens = exact ? this.usage.completion_tokens : this.chunks;
    let rate = null;
    if (this.first !== null && tokens > 1) {
      if (this.last > this.first) rate = (tokens - 1) / ((this.last - this.first) / 1000);
      else if (this.last > this.started) rate = tokens / ((this.last - this.started) / 1000);
    }
    return { tokens, exact, tokensPerSecond: rate, firstTokenMs: this.first !== null ? this.first - this.started : null };
  }
}

// Sends the request and reads the stream into a Reply, calling onUpdate(reply) after each chunk.
// Rejects with ApiError for an error answer (status, message and the parameter at fault), and with
// the fetch's AbortError when `signal` aborts (the server then cancels the generation).
export async function streamChat({ url = 'v1/chat/completions', body, apiKey, signal, onUpdate, fetchImpl = fetch }) {
  const res = await fetchImpl(url, {
    method: 'POST',
    headers: { 'Content-Type': 'application/json', ...authHeaders(apiKey) },
    body: JSON.stringify(body),
    signal,
  });
  if (!res.ok) throw await errorOf(res);
  const reply = new Reply();
  for await (const event of sseEvents(res.body)) {
    reply.add(event);
    onUpdate?.(reply);
  }
  return reply;
}

export async function errorOf(res) {
  const text = await res.text();
  try {
    const e = JSON.parse(text).error;
    if (e && e.message) return new ApiError(res.status, e.message, e.param ?? null);
  } catch { /* not JSON */ }
  return new ApiError(res.status, `HTTP ${res.status}: ${text.slice(0, 200)}`);
}
