// Small HTTP and Server-Sent Events clients shared by the end-to-end tests.
import http from 'node:http';
import { performance } from 'node:perf_hooks';
import { hashDeviceId } from '../../src/shard/routing.js';

export interface Res {
  status: number;
  headers: Headers;
  text: string;
  /** Parsed JSON body (undefined when the body is not JSON). */
  body: any;
}

async function toRes(r: Response): Promise<Res> {
  const text = await r.text();
  let body: unknown;
  try {
    body = JSON.parse(text);
  } catch {
    body = undefined;
  }
  return { status: r.status, headers: r.headers, text, body };
}

export async function get(base: string, path: string, headers: Record<string, string> = {}): Promise<Res> {
  return toRes(await fetch(base + path, { headers }));
}

/** POST with a JSON body (an object is stringified, a string is sent as is). */
export async function postJson(base: string, path: string, body: unknown, headers: Record<string, string> = {}): Promise<Res> {
  return toRes(
    await fetch(base + path, {
      method: 'POST',
      headers: { 'Content-Type': 'application/json', ...headers },
      body: typeof body === 'string' ? body : JSON.stringify(body),
    }),
  );
}

export async function postRaw(base: string, path: string, body: string | Uint8Array, contentType: string): Promise<Res> {
  return toRes(await fetch(base + path, { method: 'POST', headers: { 'Content-Type': contentType }, body }));
}

export async function request(base: string, method: string, path: string, body?: string): Promise<Res> {
  const init: RequestInit = { method };
  if (body !== undefined) {
    init.body = body;
    init.headers = { 'Content-Type': 'application/json' };
  }
  return toRes(await fetch(base + path, init));
}

/** Which of `shards` shards owns a device (the service's own routing function). */
export const shardOf = (deviceId: string, shards = 2): number => hashDeviceId(deviceId) % shards;

/** `n` device ids alternating between the two shards (SHARDS=2), the first on shard 0, so both shards hold data. */
export function devicesOnBothShards(prefix: string): [string, string];
export function devicesOnBothShards(prefix: string, n: number): string[];
export function devicesOnBothShards(prefix: string, n = 2): string[] {
  const out: string[] = [];
  for (let i = 0; out.length < n; i++) {
    const d = `${prefix}-${i}`;
    if (shardOf(d, 2) === out.length % 2) out.push(d);
  }
  return out;
}

/** Checks the FastAPI validation-error shape and returns its items. */
export function detailItems(res: Res): { loc: (string | number)[]; msg: string; type: string }[] {
  if (res.status !== 422) throw new Error(`expected 422, got ${res.status}: ${res.text}`);
  const d = res.body?.detail;
  if (!Array.isArray(d) || d.length === 0) throw new Error(`expected {"detail":[...]} got ${res.text}`);
  for (const item of d) {
    if (!Array.isArray(item.loc) || typeof item.msg !== 'string' || typeof item.type !== 'string') {
      throw new Error(`detail item is not {loc,msg,type}: ${JSON.stringify(item)}`);
    }
  }
  return d;
}

export const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

// ---------------------------------------------------------------------------------------------
// SSE

export interface SseFrame {
  /** The field lines of the frame, in order, as [name, value]. */
  fields: [string, string][];
  comments: string[];
  id?: string;
  event?: string;
  retry?: string;
  data?: string;
  /** performance.now() when the frame was complete. */
  at: number;
  raw: string;
}

export class SseClient {
  readonly frames: SseFrame[] = [];
  status = 0;
  headers: http.IncomingHttpHeaders = {};
  ended = false;
  private buf = '';
  private listeners = new Set<() => void>();
  private req?: http.ClientRequest;
  private res?: http.IncomingMessage;

  static open(url: string, headers: Record<string, string> = {}): Promise<SseClient> {
    const c = new SseClient();
    return new Promise((resolve, reject) => {
      const req = http.get(url, { headers: { Accept: 'text/event-stream', ...headers } }, (res) => {
        c.res = res;
        c.status = res.statusCode ?? 0;
        c.headers = res.headers;
        res.setEncoding('utf8');
        res.on('data', (chunk: string) => c.feed(chunk));
        res.on('end', () => {
          c.ended = true;
          c.notify();
        });
        res.on('error', () => {
          c.ended = true;
          c.notify();
        });
        resolve(c);
      });
      c.req = req;
      req.on('error', (e) => {
        c.ended = true;
        c.notify();
        reject(e);
      });
    });
  }

  private feed(chunk: string): void {
    this.buf += chunk.replace(/\r\n?/g, '\n');
    let k;
    while ((k = this.buf.indexOf('\n\n')) !== -1) {
      const raw = this.buf.slice(0, k);
      this.buf = this.buf.slice(k + 2);
      const frame: SseFrame = { fields: [], comments: [], at: performance.now(), raw };
      for (const line of raw.split('\n')) {
        if (line.startsWith(':')) {
          frame.comments.push(line.slice(1).trim());
          continue;
        }
        const colon = line.indexOf(':');
        const name = colon === -1 ? line : line.slice(0, colon);
        let value = colon === -1 ? '' : line.slice(colon + 1);
        if (value.startsWith(' ')) value = value.slice(1);
        frame.fields.push([name, value]);
        if (name === 'data') frame.data = frame.data === undefined ? value : frame.data + '\n' + value;
        else if (name === 'id') frame.id = value;
        else if (name === 'event') frame.event = value;
        else if (name === 'retry') frame.retry = value;
      }
      this.frames.push(frame);
    }
    this.notify();
  }

  private notify(): void {
    for (const l of [...this.listeners]) l();
  }

  /** Frames carrying data (alerts). */
  get dataFrames(): SseFrame[] {
    return this.frames.filter((f) => f.data !== undefined);
  }

  /** Parsed data of the alert frames. */
  get alerts(): any[] {
    return this.dataFrames.map((f) => JSON.parse(f.data!));
  }

  /** Resolves once `pred` holds, rejects after `timeoutMs`. */
  waitUntil(pred: () => boolean, timeoutMs: number, what = 'condition'): Promise<void> {
    if (pred()) return Promise.resolve();
    return new Promise((resolve, reject) => {
      const check = () => {
        if (pred()) {
          clearTimeout(timer);
          this.listeners.delete(check);
          resolve();
        }
      };
      const timer = setTimeout(() => {
        this.listeners.delete(check);
        reject(new Error(`SSE: timed out after ${timeoutMs} ms waiting for ${what}; frames so far:\n${this.frames.map((f) => f.raw).join('\n--\n')}`));
      }, timeoutMs);
      this.listeners.add(check);
    });
  }

  waitForDataFrames(n: number, timeoutMs = 2000): Promise<void> {
    return this.waitUntil(() => this.dataFrames.length >= n, timeoutMs, `${n} data frame(s)`);
  }

  close(): void {
    this.res?.destroy();
    this.req?.destroy();
  }
}

/** The ISO string the service answers for an ISO input. */
export const iso = (s: string | number): string => new Date(s).toISOString();
