// The server through the official `openai` npm client: chat (plain, streamed with usage, n > 1,
// seeds, logprobs), completions, models, reasoning_content, tool_calls, stop strings,
// chat_template_kwargs, authentication and errors. QWEN3_BIN points at the binary.
import OpenAI from 'openai';
import path from 'node:path';
import fs from 'node:fs';
import { LAUNCH, check, finish, launchRanks, makeTinyModel, makeZeroLogitModel, scriptedParams, startServer, stopAndCheck, tmpdir,
  waitIdle } from './server_util.mjs';

const dir = tmpdir('qwen3_openai_');
const servers = [];
try {
  const tiny = makeTinyModel(path.join(dir, 'tiny'));
  const zero = makeZeroLogitModel(tiny, path.join(dir, 'zero'));
  const srv = await startServer(tiny, ['--kv-memory', '0.05', '--max-batch', '8']);
  servers.push(srv);
  if (LAUNCH.length) check(`runs over ${launchRanks()} ranks`, srv.ranks.length === launchRanks() &&
                           srv.ranks.map((r) => r.rank).sort().join() === [...Array(launchRanks()).keys()].join(), srv.ranks);
  const client = new OpenAI({ baseURL: `${srv.url}/v1`, apiKey: 'none', maxRetries: 0 });
  const tokenize = async (url, body) => (await (await fetch(`${url}/tokenize`, { method: 'POST', body: JSON.stringify(body) })).json());

  // --- models ---
  const models = await client.models.list();
  check('models lists the served model', models.data.length === 1 && models.data[0].id === 'tiny', models.data);

  // --- chat, plain and streamed ---
  const messages = [{ role: 'user', content: 'Hello there! Wie geht es dir? 你好' }];
  const base = { model: 'tiny', messages, max_tokens: 16, temperature: 0 };
  const plain = await client.chat.completions.create(base);
  const c0 = plain.choices[0];
  check('chat: object and finish', plain.object === 'chat.completion' && c0.finish_reason === 'length' && c0.message.role === 'assistant', plain);
  check('chat: usage', plain.usage.completion_tokens === 16 &&
        plain.usage.prompt_tokens === (await tokenize(srv.url, { messages })).count &&
        plain.usage.total_tokens === plain.usage.prompt_tokens + 16, plain.usage);
  check('chat: content is text', typeof c0.message.content === 'string' && c0.message.content.length > 0, c0);

  const stream = await client.chat.completions.create({ ...base, stream: true, stream_options: { include_usage: true } });
  let streamed = '', role = '', finishReason = null, usage = null, ids = new Set();
  for await (const chunk of stream) {
    ids.add(chunk.id);
    if (chunk.usage) usage = chunk.usage;
    for (const ch of chunk.choices) {
      if (ch.delta.role) role = ch.delta.role;
      if (ch.delta.content) streamed += ch.delta.content;
      if (ch.finish_reason) finishReason = ch.finish_reason;
    }
  }
  check('stream: same text as plain', streamed === c0.message.content, [streamed, c0.message.content]);
  check('stream: role, finish, one id', role === 'assistant' && finishReason === 'length' && ids.size === 1, [role, finishReason, ids.size]);
  check('stream: include_usage', usage && usage.completion_tokens === 16 && usage.prompt_tokens === plain.usage.prompt_tokens, usage);

  // --- n > 1 and seeds ---
  const three = await client.chat.completions.create({ ...base, n: 3 });
  check('n=3 greedy: three identical choices', three.choices.length === 3 &&
        three.choices.every((c, i) => c.index === i && c.message.content === c0.message.content) &&
        three.usage.completion_tokens === 48, three.choices.map((c) => c.message.content));
  const sampled = { ...base, temperature: 1.0, top_p: 0.9, seed: 7, n: 2 };
  const s1 = await client.chat.completions.create(sampled);
  const s2 = await client.chat.completions.create(sampled);
  check('seed: reproducible', s1.choices.map((c) => c.message.content).join('|') === s2.choices.map((c) => c.message.content).join('|'));
  check('seed: choices differ', s1.choices[0].message.content !== s1.choices[1].message.content, s1.choices);
  const nstream = await client.chat.completions.create({ ...sampled, stream: true });
  const texts = ['', ''];
  for await (const chunk of nstream) for (const ch of chunk.choices) texts[ch.index] += ch.delta.content ?? '';
  check('n=2 streamed equals plain', texts[0] === s1.choices[0].message.content && texts[1] === s1.choices[1].message.content, texts);

  // --- logprobs ---
  const lp = await client.chat.completions.create({ ...base, logprobs: true, top_logprobs: 3 });
  const content = lp.choices[0].logprobs.content;
  check('logprobs: one entry per token', content.length === 16, content.length);
  check('logprobs: greedy token is the most likely', content.every((e) => e.top_logprobs.length === 3 &&
        e.logprob <= 0 && Math.abs(e.logprob - e.top_logprobs[0].logprob) < 1e-6 &&
        e.top_logprobs[0].logprob >= e.top_logprobs[1].logprob && e.top_logprobs[1].logprob >= e.top_logprobs[2].logprob), content[0]);
  const bytes = Buffer.from(content.flatMap((e) => e.bytes));
  check('logprobs: bytes spell the content', bytes.toString('utf8') === lp.choices[0].message.content, [bytes.toString('utf8'), lp.choices[0].message.content]);
  const lps = await client.chat.completions.create({ ...base, logprobs: true, top_logprobs: 2, stream: true });
  let entries = 0;
  for await (const chunk of lps) for (const ch of chunk.choices) entries += ch.logprobs?.content?.length ?? 0;
  check('logprobs: streamed, one entry per token', entries === 16, entries);

  // --- completions ---
  const comp = await client.completions.create({ model: 'tiny', prompt: 'The capital of France is', max_tokens: 8, temperature: 0, logprobs: 2 });
  check('completions: text and logprobs', comp.object === 'text_completion' && comp.choices[0].logprobs.tokens.length === 8 &&
        comp.choices[0].logprobs.top_logprobs.every((t) => Object.keys(t).length >= 1) && comp.usage.completion_tokens === 8, comp);
  const cstream = await client.completions.create({ model: 'tiny', prompt: 'The capital of France is', max_tokens: 8, temperature: 0, stream: true });
  let ctext = '';
  for await (const chunk of cstream) ctext += chunk.choices[0]?.text ?? '';
  check('completions: streamed equals plain', ctext === comp.choices[0].text, [ctext, comp.choices[0].text]);

  // --- errors through the client ---
  try {
    await client.chat.completions.create({ ...base, model: 'gpt-4' });
    check('unknown model refused', false);
  } catch (e) {
    check('unknown model: 400 model_not_found', e instanceof OpenAI.BadRequestError && e.code === 'model_not_found', `${e}`);
  }
  try {
    await client.chat.completions.create({ ...base, max_tokens: 5000 });
    check('max_tokens past the context refused', false);
  } catch (e) {
    check('max_tokens past the context: 400', e instanceof OpenAI.BadRequestError, `${e}`);
  }
  try {
    await client.chat.completions.create({ ...base, temperature: 'hot' });
    check('wrong type refused', false);
  } catch (e) {
    check('wrong type: 400 naming the field', e instanceof OpenAI.BadRequestError && e.param === 'temperature', `${e}`);
  }
  const idle = await waitIdle(srv.url);
  check('idle afterwards: no KV page in use', idle.get('qwen3_kv_pages_used') === 0, idle.text);

  // --- scripted outputs on the zero-logit model, with an API key ---
  const zsrv = await startServer(zero, ['--kv-memory', '0.05', '--api-key', 'sekrit', '--served-model-name', 'zero']);
  servers.push(zsrv);
  const zc = new OpenAI({ baseURL: `${zsrv.url}/v1`, apiKey: 'sekrit', maxRetries: 0 });
  const ztok = async (text) => (await (await fetch(`${zsrv.url}/tokenize`, { method: 'POST', headers: { Authorization: 'Bearer sekrit' }, body: JSON.stringify({ prompt: text }) })).json()).tokens;
  const ask = { model: 'zero', messages: [{ role: 'user', content: 'What is the weather in Paris?' }] };

  const think = await zc.chat.completions.create({ ...ask, ...scriptedParams(await ztok('<think>I think</think>Answer')) });
  check('reasoning_content split', think.choices[0].message.reasoning_content === 'I think' && think.choices[0].message.content === 'Answer', think.choices[0].message);
  const tstream = await zc.chat.completions.create({ ...ask, ...scriptedParams(await ztok('<think>I think</think>Answer')), stream: true });
  let r = '', a = '';
  for await (const chunk of tstream) for (const ch of chunk.choices) { r += ch.delta.reasoning_content ?? ''; a += ch.delta.content ?? ''; }
  check('reasoning_content streamed', r === 'I think' && a === 'Answer', [r, a]);
  // A message that mentions the tag as text does not put the reply into reasoning_content.
  const mention = await zc.chat.completions.create({ ...ask, messages: [{ role: 'user', content: 'What does the <think> tag do?' }],
                                                     ...scriptedParams(await ztok('Answer')) });
  check('"<think>" in a user message leaves the reply in content',
        mention.choices[0].message.content === 'Answer' && !mention.choices[0].message.reasoning_content, mention.choices[0].message);

  const tools = [{ type: 'function', function: { name: 'get_weather', description: 'Weather of a city', parameters: { type: 'object', properties: { city: { type: 'string' } } } } }];
  const eos = 151645;  // <|im_end|>
  const callIds = [...(await ztok('<tool_call>{"name":"get_weather","arguments":{}}</tool_call>')), eos];
  const tc = await zc.chat.completions.create({ ...ask, tools, ...scriptedParams(callIds), max_tokens: callIds.length + 4 });
  const msg = tc.choices[0].message;
  check('tools -> tool_calls', tc.choices[0].finish_reason === 'tool_calls' && msg.tool_calls?.length === 1 &&
        msg.tool_calls[0].function.name === 'get_weather' && msg.tool_calls[0].function.arguments === '{}' &&
        msg.tool_calls[0].type === 'function' && msg.content === null, tc.choices[0]);
  const tcs = await zc.chat.completions.create({ ...ask, tools, ...scriptedParams(callIds), max_tokens: callIds.length + 4, stream: true });
  let calls = [], fr = null;
  for await (const chunk of tcs) for (const ch of chunk.choices) { calls.push(...(ch.delta.tool_calls ?? [])); fr = ch.finish_reason ?? fr; }
  check('tool_calls streamed', calls.length === 1 && calls[0].function.name === 'get_weather' && fr === 'tool_calls', [calls, fr]);
  const noTools = await zc.chat.completions.create({ ...ask, ...scriptedParams(callIds), max_tokens: callIds.length + 4 });
  check('without tools a tool call is text', noTools.choices[0].finish_reason === 'stop' && noTools.choices[0].message.content.includes('<tool_call>'), noTools.choices[0]);

  const stop = await zc.chat.completions.create({ ...ask, ...scriptedParams(await ztok('one two three four')), stop: [' thr', 'zzz'] });
  check('stop string across tokens, not returned', stop.choices[0].message.content === 'one two' && stop.choices[0].finish_reason === 'stop', stop.choices[0]);

  for (const enable_thinking of [true, false]) {
    const res = await zc.chat.completions.create({ ...ask, ...scriptedParams(await ztok('ok')), chat_template_kwargs: { enable_thinking } });
    const expect = (await (await fetch(`${zsrv.url}/tokenize`, { method: 'POST', headers: { Authorization: 'Bearer sekrit' },
      body: JSON.stringify({ messages: ask.messages, chat_template_kwargs: { enable_thinking } }) })).json()).count;
    check(`chat_template_kwargs enable_thinking=${enable_thinking}`, res.usage.prompt_tokens === expect, [res.usage, expect]);
  }
  const bad = new OpenAI({ baseURL: `${zsrv.url}/v1`, apiKey: 'wrong', maxRetries: 0 });
  try {
    await bad.models.list();
    check('wrong key refused', false);
  } catch (e) {
    check('wrong key: 401', e instanceof OpenAI.AuthenticationError, `${e}`);
  }
  check('health needs no key', (await fetch(`${zsrv.url}/health`)).status === 200);
  check('metrics need the key', (await fetch(`${zsrv.url}/metrics`)).status === 401);
} catch (e) {
  check('no exception', false, `${e.stack}`);
} finally {
  for (const s of servers) await stopAndCheck(s);
  fs.rmSync(dir, { recursive: true, force: true });
  finish();
}
