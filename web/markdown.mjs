// Minimal Markdown for model output: fenced code blocks, inline code, headings, lists, quotes,
// rules, bold, italic, strike-through and http(s) links. The text is HTML-escaped first and only
// tags written here are added, so nothing the model writes becomes markup (no XSS).

const ESCAPES = { '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' };

export function escapeHtml(text) {
  return String(text).replace(/[&<>"']/g, (c) => ESCAPES[c]);
}

// Inline spans of already escaped text. Code spans are cut out first so that nothing inside them
// is formatted; links keep only http(s) targets (the URL is escaped text inside a quoted attribute).
function inline(escaped) {
  const parts = escaped.split(/(`+)([^`]|[^`][\s\S]*?[^`])\1(?!`)/);
  let out = '';
  for (let i = 0; i < parts.length; i++) {
    if (i % 3 === 0) out += spans(parts[i]);
    else if (i % 3 === 2) out += `<code>${parts[i]}</code>`;
  }
  return out;
}

function spans(s) {
  // Links become placeholders first, so that emphasis never reaches into an href.
  const links = [];
  s = s.replace(/\[([^\]\n]+)\]\((https?:\/\/[^\s()]+)\)/g, (_, text, url) => {
    links.push(`<a href="${url}" target="_blank" rel="noopener noreferrer">${emphasis(text)}</a>`);
    return `\u0000${links.length - 1}\u0000`;
  });
  return emphasis(s).replace(/\u0000(\d+)\u0000/g, (_, i) => links[Number(i)]);
}

function emphasis(s) {
  return s
    .replace(/\*\*(?=\S)([\s\S]*?\S)\*\*/g, '<strong>$1</strong>')
    .replace(/__(?=\S)([\s\S]*?\S)__/g, '<strong>$1</strong>')
    .replace(/(^|[^*])\*(?=[^\s*])([^*\n]*?[^\s*])\*(?!\*)/g, '$1<em>$2</em>')
    .replace(/(^|[^\w])_(?=[^\s_])([^_\n]*?[^\s_])_(?!\w)/g, '$1<em>$2</em>')
    .replace(/~~(?=\S)([\s\S]*?\S)~~/g, '<del>$1</del>');
}

const LIST_ITEM = /^(\s*)([-*+]|\d{1,9}[.)])\s+(.*)$/;

// Block structure of one stretch of text without code fences (escaped already).
function blocks(escaped) {
  const lines = escaped.split('\n');
  let out = '';
  let para = [];
  const flush = () => {
    if (para.length) out += `<p>${inline(para.join('\n')).replace(/\n/g, '<br>')}</p>`;
    para = [];
  };
  for (let i = 0; i < lines.length; i++) {
    const line = lines[i];
    let m;
    if (/^\s*$/.test(line)) {
      flush();
    } else if ((m = /^(#{1,6})\s+(.*?)\s*#*\s*$/.exec(line))) {
      flush();
      out += `<h${m[1].length}>${inline(m[2])}</h${m[1].length}>`;
    } else if (/^\s*([-*_])(\s*\1){2,}\s*$/.test(line)) {
      flush();
      out += '<hr>';
    } else if (/^&gt;/.test(line)) {
      flush();
      const quoted = [];
      for (; i < lines.length && /^&gt;/.test(lines[i]); i++) quoted.push(lines[i].replace(/^&gt;\s?/, ''));
      i--;
      out += `<blockquote>${blocks(quoted.join('\n'))}</blockquote>`;
    } else if ((m = LIST_ITEM.exec(line))) {
      flush();
      const ordered = /\d/.test(m[2]);
      const items = [];
      for (; i < lines.length; i++) {
        const item = LIST_ITEM.exec(lines[i]);
        if (item && /\d/.test(item[2]) === ordered) items.push(item[3]);
        else if (items.length && /^\s+\S/.test(lines[i])) items[items.length - 1] += '\n' + lines[i].trim();
        else break;
      }
      i--;
      const tag = ordered ? 'ol' : 'ul';
      const start = ordered && parseInt(m[2], 10) !== 1 ? ` start="${parseInt(m[2], 10)}"` : '';
      out += `<${tag}${start}>${items.map((t) => `<li>${inline(t).replace(/\n/g, '<br>')}</li>`).join('')}</${tag}>`;
    } else {
      para.push(line);
    }
  }
  flush();
  return out;
}

// Markdown text -> HTML. A code fence still open at the end (a reply being streamed) runs to the
// end of the text.
export function renderMarkdown(text) {
  // NUL is the link placeholder of spans(); it has no business in a chat reply anyway.
  const lines = String(text ?? '').replace(/\r\n?/g, '\n').replace(/\u0000/g, '').split('\n');
  let out = '';
  let prose = [];
  for (let i = 0; i < lines.length; i++) {
    const open = /^\s*(`{3,}|~{3,})\s*([\w+#.-]*)/.exec(lines[i]);
    if (!open) {
      prose.push(lines[i]);
      continue;
    }
    out += blocks(escapeHtml(prose.join('\n')));
    prose = [];
    const fence = open[1];
    const code = [];
    for (i++; i < lines.length && !(lines[i].trim().startsWith(fence) && lines[i].trim().replace(/[`~]/g, '') === ''); i++)
      code.push(lines[i]);
    const lang = open[2] ? ` class="language-${escapeHtml(open[2])}"` : '';
    out += `<pre><code${lang}>${escapeHtml(code.join('\n'))}</code></pre>`;
  }
  return out + blocks(escapeHtml(prose.join('\n')));
}
