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
  /** Bytes the replay buffer may hold; the oldest alerts go first past it. */
  replayBytesMax: number;
  clientBufferBytesMax: number;
  heartbeatMs: number;
  retryMs: number;
}

interface Frame {
  id: number;
  deviceId: string;
  /** The encoded frame: encoded once, written to every client, and compact in the replay buffer. */
  bytes: Buffer;
}

export interface StreamCounters {
  clients: number;
  alertsPublished: number;
  clientsDropped: number;
}

class Client {
  queue: Buffer[] = [];
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

const HEARTBEAT = Buffer.from(': heartbeat\n\n');

export class AlertStream {
  private nextId = Date.now() * 1000;
  /** Oldest first, from replayHead on; compacted as the head advances. */
  private replay: Frame[] = [];
  private replayHead = 0;
  private replayBytes = 0;
  private readonly clients = new Set<Client>();
  private readonly heartbeat: NodeJS.Timeout;
  readonly counters: StreamCounters = { clients: 0, alertsPublished: 0, clientsDropped: 0 };

  constructor(private readonly options: AlertStreamOptions) {
    this.heartbeat = setInterval(() => this.broadcast(undefined, HEARTBEAT), options.heartbeatMs);
    this.heartbeat.unref();
  }

  publish(alerts: readonly FiredAlert[]): void {
    for (const a of alerts) {
      const id = ++this.nextId;
      const frame: Frame = { id, deviceId: a.device_id, bytes: Buffer.from(`id: ${id}\ndata: ${alertJson(a)}\n\n`) };
      this.remember(frame);
      this.counters.alertsPublished++;
      this.broadcast(a.device_id, frame.bytes);
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
    const replayed: Buffer[] = [];
    if (after !== undefined) {
      for (let k = this.replayHead; k < this.replay.length; k++) {
        const f = this.replay[k]!;
        if (f.id > after && (deviceId === undefined || f.deviceId === deviceId)) replayed.push(f.bytes);
      }
    }
    res.cork(() => {
      res.writeStatus('200 OK');
      res.writeHeader('Content-Type', 'text/event-stream');
      res.writeHeader('Cache-Control', 'no-cache');
      res.writeHeader('X-Accel-Buffering', 'no');
      for (const [k, v] of extraHeaders) res.writeHeader(k, v);
      this.write(client, Buffer.concat([Buffer.from(head), ...replayed]));
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
    if (this.options.replayMax === 0) return;
    this.replay.push(frame);
    this.replayBytes += frame.bytes.length;
    while (this.replay.length - this.replayHead > this.options.replayMax || this.replayBytes > this.options.replayBytesMax) {
      this.replayBytes -= this.replay[this.replayHead]!.bytes.length;
      this.replayHead++;
    }
    if (this.replayHead > 1024 && this.replayHead * 2 > this.replay.length) {
      this.replay = this.replay.slice(this.replayHead);
      this.replayHead = 0;
    }
  }

  private broadcast(deviceId: string | undefined, text: Buffer): void {
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

  private write(c: Client, text: Buffer): void {
    if (c.closed) return;
    if (!c.res.write(text)) c.blocked = true;
  }

  private enqueue(c: Client, frame: Buffer): void {
    c.queue.push(frame);
    c.queuedBytes += frame.length;
    if (c.queuedBytes > this.options.clientBufferBytesMax) this.drop(c);
  }

  private drain(c: Client): boolean {
    if (c.closed) return true;
    c.blocked = false;
    while (c.queue.length > 0 && !c.blocked) {
      const frame = c.queue.shift()!;
      c.queuedBytes -= frame.length;
      this.write(c, frame); // onWritable runs corked already
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
