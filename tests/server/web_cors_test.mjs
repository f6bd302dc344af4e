// The web page's files as `qwen3 serve` sends them (bytes of web/, Content-Type, no API key needed),
// and CORS: no Access-Control-* header without --cors-origin; with it, preflights answered for the
// allowed origins only (403 otherwise), before authentication, and the header on every answer.
import { execFile } from 'node:child_process';
import fs from 'node:fs';
import http from 'node:http';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { BIN, check, finish, makeTinyModel, startServer, stopAndCheck, tmpdir } from './server_util.mjs';

const WEB = path.join(path.dirname(fileURLToPath(import.meta.url)), '..', '..', 'web');
const TYPES = { '.html': 'text/html; charset=utf-8', '.css': 'text/css; charset=utf-8',
                '.mjs': 'text/javascript; charset=utf-8', '.svg': 'image/svg+xml' };
const KEY = 'cors-key';

// { status, headers, body (Buffer) } with node:http, which sends Origin as given (fetch may not).
function request(url, { method = 'GET', headers = {}, body } = {}) {
  return new Promise((resolve, reject) => {
    const req = http.request(url, { method, headers }, (res) => {
      const chunks = [];
      res.on('data', (c) => chunks.push(c));
      res.on('end', () => resolve({ status: res.statusCode, headers: res.headers, body: Buffer.concat(chunks) }));
    });
    req.on('error', reject);
    req.end(body);
  });
}
const cors = (h) => Object.keys(h).filter((k) => k.startsWith('access-control-'));
const preflight = (url, origin, asked = 'authorization,content-type,x-stainless-os') =>
  request(`${url}/v1/chat/completions`, {
    method: 'OPTIONS',
    headers: { Origin: origin, 'Access-Control-Request-Method': 'POST', 'Access-Control-Request-Headers': asked },
  });
const chatBody = JSON.stringify({ messages: [{ role: 'user', content: 'hi' }], max_tokens: 2 });
const post = (url, headers) => request(`${url}/v1/chat/completions`, {
  method: 'POST', headers: { 'Content-Type': 'application/json', ...headers }, body: chatBody,
});

const tmp = tmpdir('qwen3_web_cors_');
const model = makeTinyModel(path.join(tmp, 'tiny'), 4);
const servers = [];
try {
  // Without --cors-origin (and with an API key): the page, and no CORS at all.
  const plain = await startServer(model, ['--api-key', KEY, '--kv-memory', '0.05']);
  servers.push(plain);
  const files = fs.readdirSync(WEB).filter((f) => TYPES[path.extname(f)]);
  check('web/ has the page', files.includes('index.html') && files.includes('app.mjs'), files);
  for (const f of files) {
    const r = await request(`${plain.url}/${f}`);
    check(`GET /${f} without a key`, r.status === 200, r.status);
    check(`/${f} Content-Type`, r.headers['content-type'] === TYPES[path.extname(f)], r.headers['content-type']);
    check(`/${f} is web/${f}`, r.body.equals(fs.readFileSync(path.join(WEB, f))));
  }
  const root = await request(`${plain.url}/`);
  check('/ is index.html', root.status === 200 && root.body.equals(fs.readFileSync(path.join(WEB, 'index.html'))));
  check('/ has a content security policy', /script-src 'self'/.test(root.headers['content-security-policy'] ?? ''),
        root.headers);
  check('nosniff', root.headers['x-content-type-options'] === 'nosniff');
  const head = await request(`${plain.url}/app.mjs`, { method: 'HEAD' });
  check('HEAD of an asset without a key', head.status === 200, head.status);
  check('the API still needs the key', (await request(`${plain.url}/v1/models`)).status === 401);
  check('the API with the key', (await request(`${plain.url}/v1/models`, { headers: { Authorization: `Bearer ${KEY}` } })).status === 200);
  for (const p of ['/nope.html', '/indexXhtml', '/app.mjsx', '/../CMakeLists.txt', '/%2e%2e/CMakeLists.txt', '/web/index.html', '/index.html/'])
    check(`GET ${p} is not served`, (await request(`${plain.url}${p}`, { headers: { Authorization: `Bearer ${KEY}` } })).status === 404, p);
  const noCors = await preflight(plain.url, 'http://page.example');
  check('no CORS: a preflight gets no Access-Control-* header', cors(noCors.headers).length === 0 && noCors.status !== 204,
        { status: noCors.status, headers: noCors.headers });
  const noCorsPost = await post(plain.url, { Origin: 'http://page.example', Authorization: `Bearer ${KEY}` });
  check('no CORS: nor does a request', noCorsPost.status === 200 && cors(noCorsPost.headers).length === 0, noCorsPost.headers);

  // --cors-origin with two origins.
  const listed = await startServer(model, ['--api-key', KEY, '--kv-memory', '0.05', '--cors-origin',
                                           'http://page.example, HTTP://Other.example:8081']);
  servers.push(listed);
  const pre = await preflight(listed.url, 'http://page.example');
  check('preflight: 204', pre.status === 204, pre.status);
  check('preflight: the origin', pre.headers['access-control-allow-origin'] === 'http://page.example', pre.headers);
  check('preflight: methods', /\bPOST\b/.test(pre.headers['access-control-allow-methods'] ?? ''), pre.headers);
  check('preflight: the headers asked for', pre.headers['access-control-allow-headers'] === 'authorization,content-type,x-stainless-os',
        pre.headers);
  check('preflight: max age and Vary', pre.headers['access-control-max-age'] === '600' && /Origin/.test(pre.headers.vary ?? ''),
        pre.headers);
  const other = await preflight(listed.url, 'http://other.example:8081');
  check('preflight: the second origin (configured in capitals)', other.status === 204 &&
        other.headers['access-control-allow-origin'] === 'http://other.example:8081', other.headers);
  const evil = await preflight(listed.url, 'http://evil.example');
  check('preflight from another origin: 403 without the header', evil.status === 403 &&
        !evil.headers['access-control-allow-origin'] && /--cors-origin/.test(evil.body.toString()), evil);
  const ok = await post(listed.url, { Origin: 'http://page.example', Authorization: `Bearer ${KEY}` });
  check('a request from the origin gets the header', ok.status === 200 &&
        ok.headers['access-control-allow-origin'] === 'http://page.example', ok.headers);
  const streamed = await request(`${listed.url}/v1/chat/completions`, {
    method: 'POST', headers: { 'Content-Type': 'application/json', Origin: 'http://page.example', Authorization: `Bearer ${KEY}` },
    body: JSON.stringify({ messages: [{ role: 'user', content: 'hi' }], max_tokens: 2, stream: true }),
  });
  check('a stream too', streamed.status === 200 && streamed.headers['access-control-allow-origin'] === 'http://page.example' &&
        /\[DONE\]/.test(streamed.body.toString()), streamed.headers);
  const unauth = await post(listed.url, { Origin: 'http://page.example' });
  check('a 401 carries the header (the page can read the error)', unauth.status === 401 &&
        unauth.headers['access-control-allow-origin'] === 'http://page.example', unauth.headers);
  const bad = await request(`${listed.url}/v1/chat/completions`, {
    method: 'POST', headers: { 'Content-Type': 'application/json', Origin: 'http://page.example', Authorization: `Bearer ${KEY}` },
    body: '{"messages": [], "top_p": 7}',
  });
  check('a 400 carries the header', bad.status === 400 && bad.headers['access-control-allow-origin'] === 'http://page.example');
  const foreign = await post(listed.url, { Origin: 'http://evil.example', Authorization: `Bearer ${KEY}` });
  check('another origin gets no header', !foreign.headers['access-control-allow-origin'], foreign.headers);

  // --cors-origin '*'.
  const any = await startServer(model, ['--kv-memory', '0.05', '--cors-origin', '*']);
  servers.push(any);
  const star = await preflight(any.url, 'http://anything.example', 'content-type');
  check('*: preflight', star.status === 204 && star.headers['access-control-allow-origin'] === '*' &&
        star.headers['access-control-allow-headers'] === 'content-type', star.headers);
  const starGet = await request(`${any.url}/v1/models`, { headers: { Origin: 'null' } });
  check('*: any origin', starGet.headers['access-control-allow-origin'] === '*', starGet.headers);
  const odd = await preflight(any.url, 'http://x.example', 'content-type, x:y');
  check('*: an odd header list is not echoed', odd.status === 204 &&
        odd.headers['access-control-allow-headers'] === 'Authorization, Content-Type', odd.headers);

  // Values that are not origins are refused at start, naming the flag.
  for (const v of ['http://page.example/', 'page.example', 'http://a.example/path', ',']) {
    const r = await new Promise((resolve) => {
      execFile(BIN, ['serve', '--model', model, '--port', '0', '--cors-origin', v], { timeout: 60000 },
               (err, stdout, stderr) => resolve({ code: err ? err.code : 0, stderr }));
    });
    check(`--cors-origin '${v}' refused`, r.code !== 0 && /--cors-origin/.test(r.stderr), r);
  }
} catch (e) {
  check('web/CORS session', false, e.stack ?? String(e));
} finally {
  for (const s of servers) await stopAndCheck(s);
  fs.rmSync(tmp, { recursive: true, force: true });
  finish();
}
