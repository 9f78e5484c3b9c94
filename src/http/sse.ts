// The alert stream: fired alerts from every shard, merged into one sequence of Server-Sent Events.
//
// - Each alert gets an id, increasing for the life of the data: it starts from the wall clock in
//   microseconds at boot, so ids keep increasing across restarts and a client's Last-Event-ID from
//   before a restart is still older than every new alert.
// - The newest `replayMax` alerts are kept, so a client that reconnects with Last-Event-ID gets what
//   it missed (as far back as the buffer goes).
// - A client that does not read is never allowed to grow memory: once uWS reports backpressure,
//   further frames queue here, and past `clientBufferBytesMax` queued bytes the client is dropped
//   (it can reconnect with Last-Event-ID and resume).
import type { FiredAlert } from '../engine/alerts.js';
import { formatIso } from '../time.js';
import type { HttpResponse } from './uws.js';

export interface AlertStreamOptions {
  replayMax: number;
  clientBufferBytesMax: number;
  heartbeatMs: number;
  retryMs: number;
}

interface Frame {
  id: number;
  deviceId: string;
  text: string;
}

export interface StreamCounters {
  clients: number;
  alertsPublished: number;
  clientsDropped: number;
}

class Client {
  queue: string[] = [];
  queuedBytes = 0;
  blocked = false;
  closed = false;

  constructor(
    readonly res: HttpResponse,
    readonly deviceId: string | undefined,
  ) {}
}

export const alertJson = (a: FiredAlert): string => {
  let metrics = '';
  for (const [name, value] of a.metrics) metrics += (metrics === '' ? '' : ',') + JSON.stringify(name) + ':' + String(value);
  return (
    `{"device_id":${JSON.stringify(a.device_id)},"metrics":{${metrics}},"time":"${formatIso(a.time)}",` +
    `"event_id":${JSON.stringify(a.event_id)},"alert_id":${a.alert_id},"metric":${JSON.stringify(a.metric)},` +
    `"op":${JSON.stringify(a.op)},"threshold":${a.threshold},"value":${a.value}}`
  );
};

export class AlertStream {
  private nextId = Date.now() * 1000;
  private readonly replay: Frame[] = [];
  private replayHead = 0;
  private readonly clients = new Set<Client>();
  private readonly heartbeat: NodeJS.Timeout;
  readonly counters: StreamCounters = { clients: 0, alertsPublished: 0, clientsDropped: 0 };

  constructor(private readonly options: AlertStreamOptions) {
    this.heartbeat = setInterval(() => this.broadcast(undefined, ': heartbeat\n\n'), options.heartbeatMs);
    this.heartbeat.unref();
  }

  publish(alerts: readonly FiredAlert[]): void {
    for (const a of alerts) {
      const id = ++this.nextId;
      const frame: Frame = { id, deviceId: a.device_id, text: `id: ${id}\ndata: ${alertJson(a)}\n\n` };
      this.remember(frame);
      this.counters.alertsPublished++;
      this.broadcast(a.device_id, frame.text);
    }
  }

  /**
   * Takes the response over as an event stream. `lastEventId`: replay the buffered alerts after it.
   * Call inside the request handler (synchronously), after onAborted was attached.
   */
  subscribe(res: HttpResponse, deviceId: string | undefined, lastEventId: string, onClose: (fn: () => void) => void, extraHeaders: [string, string][] = []): void {
    const client = new Client(res, deviceId);
    this.clients.add(client);
    this.counters.clients = this.clients.size;
    onClose(() => {
      client.closed = true;
      this.clients.delete(client);
      this.counters.clients = this.clients.size;
    });
    res.onWritable(() => this.drain(client));
    let head = `retry: ${this.options.retryMs}\n\n`;
    const after = /^\d+$/.test(lastEventId) ? Number(lastEventId) : undefined;
    const replayed: string[] = [];
    if (after !== undefined) {
      const n = this.replay.length;
      for (let k = 0; k < n; k++) {
        const f = this.replay[(this.replayHead + k) % n]!;
        if (f.id > after && (deviceId === undefined || f.deviceId === deviceId)) replayed.push(f.text);
      }
    }
    res.cork(() => {
      res.writeStatus('200 OK');
      res.writeHeader('Content-Type', 'text/event-stream');
      res.writeHeader('Cache-Control', 'no-cache');
      res.writeHeader('X-Accel-Buffering', 'no');
      for (const [k, v] of extraHeaders) res.writeHeader(k, v);
      head += replayed.join('');
      this.write(client, head);
    });
  }

  get clientCount(): number {
    return this.clients.size;
  }

  close(): void {
    clearInterval(this.heartbeat);
    for (const c of this.clients) {
      c.closed = true;
      c.res.cork(() => c.res.end());
    }
    this.clients.clear();
    this.counters.clients = 0;
  }

  private remember(frame: Frame): void {
    const max = this.options.replayMax;
    if (max === 0) return;
    if (this.replay.length < max) this.replay.push(frame);
    else {
      this.replay[this.replayHead] = frame;
      this.replayHead = (this.replayHead + 1) % max;
    }
  }

  private broadcast(deviceId: string | undefined, text: string): void {
    for (const c of this.clients) {
      if (deviceId !== undefined && c.deviceId !== undefined && c.deviceId !== deviceId) continue;
      if (c.blocked) {
        // Heartbeats are not queued behind a stalled client: it has bytes pending already.
        if (deviceId !== undefined) this.enqueue(c, text);
        continue;
      }
      c.res.cork(() => this.write(c, text));
    }
  }

  private write(c: Client, text: string): void {
    if (c.closed) return;
    if (!c.res.write(text)) c.blocked = true;
  }

  private enqueue(c: Client, text: string): void {
    c.queue.push(text);
    c.queuedBytes += Buffer.byteLength(text);
    if (c.queuedBytes > this.options.clientBufferBytesMax) this.drop(c);
  }

  private drain(c: Client): boolean {
    if (c.closed) return true;
    c.blocked = false;
    while (c.queue.length > 0 && !c.blocked) {
      const text = c.queue.shift()!;
      c.queuedBytes -= Buffer.byteLength(text);
      this.write(c, text); // onWritable runs corked already
    }
    return !c.blocked;
  }

  private drop(c: Client): void {
    this.counters.clientsDropped++;
    c.closed = true;
    this.clients.delete(c);
    this.counters.clients = this.clients.size;
    c.queue = [];
    c.res.close();
  }
}
