// Server-sent events of a streamed OpenAI response: yields { now, data } for each `data:` event
// (its JSON parsed), with `now` the performance.now() at which its bytes arrived. Stops at [DONE].
export async function* sseEvents(res) {
  let buf = '';
  for await (const piece of res.body) {
    const now = performance.now();
    buf += Buffer.from(piece).toString('utf8');
    let i;
    while ((i = buf.indexOf('\n\n')) >= 0) {
      const ev = buf.slice(0, i);
      buf = buf.slice(i + 2);
      if (ev === 'data: [DONE]') return;
      if (ev.startsWith('data: ')) yield { now, data: JSON.parse(ev.slice(6)) };
    }
  }
}
