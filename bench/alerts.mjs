// Alert latency: 100 SSE clients on /v1/alerts/stream, one rule, then one triggering event POSTed
// at a time. Both ends are timed with performance.now() in this one process: latency is the time a
// client's alert arrived minus the time the POST's answer arrived (negative when the alert beats
// the answer), and also minus the time the POST was sent. Checks every client gets every alert once.
import http from 'node:http';
import { rmSync } from 'node:fs';
import { quantile, startServer, T0, tempDir } from './lib.mjs';

const CLIENTS = Number(process.env.ALERT_CLIENTS ?? 100);
const ALERTS = Number(process.env.ALERTS ?? 200);
const DEVICE = 'dev-1';
const THRESHOLD = 1000;
const DELIVERY_TIMEOUT_MS = 5000;

const fail = (msg) => {
  throw new Error(msg);
};

/** One SSE client: collects (event_id -> arrival time) of every alert, counting repeats. */
function openClient(port) {
  return new Promise((resolve, reject) => {
    const c = { got: new Map(), repeats: 0, frames: 0, req: undefined, waiter: undefined };
    // No agent: one socket per client, as separate dashboards would have.
    c.req = http.get({ host: '127.0.0.1', port, path: '/v1/alerts/stream', agent: false }, (res) => {
      if (res.statusCode !== 200) return reject(new Error(`stream answered ${res.statusCode}`));
      res.setEncoding('utf8');
      let buf = '';
      res.on('data', (chunk) => {
        const at = performance.now();
        buf += chunk;
        let end;
        while ((end = buf.indexOf('\n\n')) !== -1) {
          const frame = buf.slice(0, end);
          buf = buf.slice(end + 2);
          const data = frame.split('\n').find((l) => l.startsWith('data: '));
          if (data === undefined) continue; // retry hint, heartbeat comment
          const a = JSON.parse(data.slice(6));
          c.frames++;
          if (c.got.has(a.event_id)) c.repeats++;
          else c.got.set(a.event_id, { at, alert: a });
          c.waiter?.();
        }
      });
      res.on('error', reject);
      // Subscribed once the headers are here: the server registers the client before answering.
      resolve(c);
    });
    c.req.on('error', reject);
  });
}

const agent = new http.Agent({ keepAlive: true, maxSockets: 1 });
function post(port, path, body) {
  return new Promise((resolve, reject) => {
    const payload = JSON.stringify(body);
    const req = http.request({ host: '127.0.0.1', port, path, method: 'POST', agent, headers: { 'content-type': 'application/json', 'content-length': Buffer.byteLength(payload) } }, (res) => {
      const answeredAt = performance.now();
      let text = '';
      res.setEncoding('utf8');
      res.on('data', (c) => (text += c));
      res.on('end', () => resolve({ status: res.statusCode, text, sentAt, answeredAt }));
      res.on('error', reject);
    });
    req.on('error', reject);
    const sentAt = performance.now();
    req.end(payload);
  });
}

const untilAllHave = (clients, eventId) =>
  new Promise((resolve, reject) => {
    const missing = () => clients.filter((c) => !c.got.has(eventId));
    const timer = setTimeout(() => {
      for (const c of clients) c.waiter = undefined;
      reject(new Error(`${missing().length} of ${clients.length} clients did not get the alert of ${eventId} within ${DELIVERY_TIMEOUT_MS} ms`));
    }, DELIVERY_TIMEOUT_MS);
    const check = () => {
      if (missing().length > 0) return;
      clearTimeout(timer);
      for (const c of clients) c.waiter = undefined;
      resolve();
    };
    for (const c of clients) c.waiter = check;
    check();
  });

const dataDir = tempDir('bench-alerts-');
const server = await startServer({ DATA_DIR: dataDir, FSYNC: 'always' });
const clients = [];
try {
  for (let i = 0; i < CLIENTS; i++) clients.push(await openClient(server.port));

  const rule = await post(server.port, '/v1/alerts', { device_id: DEVICE, metric: 'temp', op: '>', threshold: THRESHOLD });
  if (rule.status !== 200) fail(`POST /v1/alerts answered ${rule.status}: ${rule.text}`);
  const ruleId = JSON.parse(rule.text).id;

  // An event under the threshold must not fire: checked at the end, once later alerts came through.
  const quiet = await post(server.port, '/v1/events', { event_id: 'quiet-0', device_id: DEVICE, timeStamp: new Date(T0).toISOString(), metrics: { temp: THRESHOLD }, tags: [] });
  if (quiet.text !== '{"status":"ok"}') fail(`quiet event answered ${quiet.status} ${quiet.text}`);

  const fromAnswer = [];
  const fromSend = [];
  for (let k = 0; k < ALERTS; k++) {
    const ev = { event_id: `alert-${k}`, device_id: DEVICE, timeStamp: new Date(T0 + 1000 * (k + 1)).toISOString(), metrics: { temp: THRESHOLD + 1 + k, cpu: 0.5 }, tags: ['bench'] };
    const r = await post(server.port, '/v1/events', ev);
    if (r.status !== 200 || r.text !== '{"status":"ok"}') fail(`event ${ev.event_id} answered ${r.status} ${r.text}`);
    await untilAllHave(clients, ev.event_id);
    for (const c of clients) {
      const { at, alert } = c.got.get(ev.event_id);
      const right =
        alert.device_id === DEVICE && alert.alert_id === ruleId && alert.metric === 'temp' && alert.op === '>' && alert.threshold === THRESHOLD && alert.value === ev.metrics.temp && alert.time === ev.timeStamp && alert.metrics.temp === ev.metrics.temp && alert.metrics.cpu === 0.5;
      if (!right) fail(`wrong alert for ${ev.event_id}: ${JSON.stringify(alert)}`);
      fromAnswer.push(at - r.answeredAt);
      fromSend.push(at - r.sentAt);
    }
  }
  // Let any repeated or stray frame arrive before counting.
  await new Promise((r) => setTimeout(r, 500));
  for (const [i, c] of clients.entries()) {
    if (c.repeats > 0 || c.frames !== ALERTS || c.got.size !== ALERTS || c.got.has('quiet-0'))
      fail(`client ${i}: ${c.frames} alert frames, ${c.got.size} distinct, ${c.repeats} repeats, quiet event fired: ${c.got.has('quiet-0')} (expected ${ALERTS} each once)`);
  }

  fromAnswer.sort((a, b) => a - b);
  fromSend.sort((a, b) => a - b);
  const ms = (x) => Number(x.toFixed(3));
  console.log(
    JSON.stringify({
      scenario: 'alert-latency',
      clients: CLIENTS,
      alerts: ALERTS,
      fsync: 'always',
      p50ms: ms(quantile(fromAnswer, 0.5)),
      p99ms: ms(quantile(fromAnswer, 0.99)),
      maxms: ms(fromAnswer[fromAnswer.length - 1]),
      minms: ms(fromAnswer[0]),
      fromSendP50ms: ms(quantile(fromSend, 0.5)),
      fromSendP99ms: ms(quantile(fromSend, 0.99)),
      fromSendMaxms: ms(fromSend[fromSend.length - 1]),
    }),
  );
} finally {
  for (const c of clients) c.req.destroy();
  agent.destroy();
  await server.stop();
  rmSync(dataDir, { recursive: true, force: true });
}
