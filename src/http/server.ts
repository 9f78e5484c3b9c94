// The HTTP adapter: turns the route table into uWebSockets.js handlers. It owns the rules uWS
// imposes: the request object is only valid during the handler call (everything is copied out
// first), a response is never touched after it was aborted, writes after an await are corked, and
// body chunks are copied as they arrive, with the byte limit enforced there.
import { ApiError } from '../errors.js';
import { BodyPool } from './body-pool.js';
import type { RouteDoc } from './openapi.js';
import type { HttpRequest, HttpResponse, TemplatedApp, us_listen_socket } from './uws.js';
import { uws } from './uws.js';

export type Method = 'get' | 'post' | 'del';

export interface RequestContext {
  method: string;
  path: string;
  params: string[];
  /** The query string as sent (without `?`). */
  rawQuery: string;
  query: URLSearchParams;
  headers: {
    contentType: string;
    lastEventId: string;
    authorization: string;
  };
  /** The request body, read to the end (POST routes only). */
  body: Promise<Buffer>;
  res: HttpResponse;
  /** Set once the client went away; never write to `res` after that. */
  aborted: boolean;
  /** Called when the client goes away. */
  onAbort?: () => void;
  /** Headers every answer carries (CORS), for handlers that write their own (SSE). */
  extraHeaders: [string, string][];
}

/**
 * One request's context. A class, not an object literal: a literal with a getter made V8 build
 * each request its own accessor and hidden class, which the young-generation collector then had
 * to copy by the megabyte (10-17 ms pauses, the p99 of every route under load).
 */
class Context implements RequestContext {
  params: string[] = [];
  body: Promise<Buffer> = NO_BODY;
  aborted = false;
  onAbort?: () => void;
  private parsedQuery: URLSearchParams | undefined;

  constructor(
    readonly method: string,
    readonly path: string,
    readonly rawQuery: string,
    readonly headers: RequestContext['headers'],
    readonly res: HttpResponse,
    readonly extraHeaders: [string, string][],
  ) {}

  /** Parsed on first use: a query answered from the cache never needs it. */
  get query(): URLSearchParams {
    return (this.parsedQuery ??= new URLSearchParams(this.rawQuery));
  }
}

export interface Reply {
  status: number;
  body: string | Buffer;
  contentType?: string;
  headers?: Record<string, string>;
  /** Close the connection after answering (the rest of an oversized body is not read). */
  close?: boolean;
}

export interface Route {
  method: Method;
  /** uWS pattern, e.g. `/v1/devices/:device_id/events`. */
  path: string;
  /** Largest accepted body in bytes (POST routes). */
  maxBodyBytes?: number;
  /** Who may call it when tokens are configured: reads, writes, or anyone (absent). */
  access?: 'read' | 'write';
  /** What the route is for, for the OpenAPI document (undocumented routes are left out). */
  doc?: RouteDoc;
  /** Returns a reply, or undefined when the handler took the response over (SSE). */
  handle(ctx: RequestContext): Promise<Reply | undefined> | Reply | undefined;
}

export interface ServerOptions {
  /** Longest time to receive a body. */
  bodyTimeoutMs: number;
  /** Access-Control-Allow-Origin for every answer (and OPTIONS preflights); unset: no CORS. */
  corsOrigin?: string;
  /** Whether the Authorization header grants this access; absent: everything is open. */
  authorize?(access: 'read' | 'write', authorization: string): boolean;
  /** Requests refused before any work. */
  onRefused?(reason: 'body_too_large' | 'body_timeout' | 'unauthorized'): void;
}

export interface ServerHooks {
  /** Every reply: for access logs and request metrics. */
  /** startedMs: performance.now() when the request arrived. */
  onReply?(route: string, method: string, status: number, startedMs: number): void;
  /** Unexpected errors (bugs): logged; the client gets a 500. */
  onError?(err: unknown): void;
}

const STATUS_TEXT: Record<number, string> = {
  200: '200 OK',
  400: '400 Bad Request',
  401: '401 Unauthorized',
  404: '404 Not Found',
  405: '405 Method Not Allowed',
  408: '408 Request Timeout',
  413: '413 Payload Too Large',
  415: '415 Unsupported Media Type',
  422: '422 Unprocessable Entity',
  429: '429 Too Many Requests',
  500: '500 Internal Server Error',
  503: '503 Service Unavailable',
};

// Every status the service answers has its reason phrase: a bare code is not a valid status line.
const statusLine = (status: number) => STATUS_TEXT[status] ?? `${status} Unknown`;

export function writeReply(ctx: { res: HttpResponse; aborted: boolean; extraHeaders: [string, string][] }, reply: Reply): void {
  if (ctx.aborted) return;
  ctx.res.cork(() => {
    ctx.res.writeStatus(statusLine(reply.status));
    ctx.res.writeHeader('Content-Type', reply.contentType ?? 'application/json');
    for (const [k, v] of ctx.extraHeaders) ctx.res.writeHeader(k, v);
    if (reply.headers) for (const k in reply.headers) ctx.res.writeHeader(k, reply.headers[k]!);
    ctx.res.end(reply.body, reply.close === true);
  });
}

export const errorReply = (e: ApiError): Reply => {
  const reply: Reply = { status: e.status, body: e.body() };
  if (e.headers) reply.headers = e.headers;
  // Overload and unavailability are temporary: say when to come back.
  if ((e.status === 503 || e.status === 429) && !reply.headers?.['Retry-After']) reply.headers = { ...reply.headers, 'Retry-After': '1' };
  if (e.code === 'BODY_TOO_LARGE' || e.code === 'REQUEST_TIMEOUT') reply.close = true;
  return reply;
};

/**
 * Reads the whole body, copying each chunk (uWS reuses its memory); rejects past maxBytes with 413,
 * and when the client goes away mid-body (so no handler waits forever).
 */
function readBody(
  res: HttpResponse,
  declaredLength: number,
  into: Buffer | undefined,
  maxBytes: number,
  timeoutMs: number,
  onAbort: (fn: () => void) => void,
): Promise<Buffer> {
  return new Promise((resolveBody, rejectBody) => {
    let failed = false;
    // A body that never finishes must not hold the request (and its memory) forever.
    const timer = setTimeout(() => {
      failed = true;
      rejectBody(new ApiError('REQUEST_TIMEOUT', `the request body did not arrive within ${timeoutMs} ms`));
    }, timeoutMs);
    const resolve = (body: Buffer) => {
      clearTimeout(timer);
      resolveBody(body);
    };
    const reject = (e: ApiError) => {
      clearTimeout(timer);
      failed = true;
      rejectBody(e);
    };
    onAbort(() => reject(new ApiError('BAD_REQUEST', 'the client went away before sending the whole body')));
    const tooLarge = () => new ApiError('BODY_TOO_LARGE', `request body is larger than ${maxBytes} bytes`);
    if (declaredLength > maxBytes) {
      // Still drain onData so uWS does not hold the connection mid-body; the answer goes out now.
      res.onData(() => {});
      reject(tooLarge());
      return;
    }
    const chunks: Buffer[] = [];
    let size = 0;
    // With a Content-Length, each chunk is copied once, into the body's own buffer (`into`, from
    // the pool, or one of exactly that length; no copy per chunk and then a concat); without one,
    // or past it, chunk by chunk. Once the promise settled nothing writes to the buffer.
    const declared = Number.isSafeInteger(declaredLength) && declaredLength > 0 ? declaredLength : 0;
    let whole: Buffer | undefined = declared === 0 ? undefined : (into ?? Buffer.allocUnsafeSlow(declared));
    res.onData((chunk, isLast) => {
      if (failed) return;
      const at = size;
      size += chunk.byteLength;
      if (size > maxBytes) {
        reject(tooLarge());
        return;
      }
      if (whole !== undefined && size <= declared) whole.set(new Uint8Array(chunk), at);
      else {
        if (whole !== undefined) {
          chunks.push(whole.subarray(0, at));
          whole = undefined;
        }
        chunks.push(Buffer.from(chunk.slice(0)));
      }
      if (!isLast) return;
      if (whole !== undefined) resolve(size === whole.length ? whole : whole.subarray(0, size));
      else resolve(chunks.length === 1 ? chunks[0]! : Buffer.concat(chunks, size));
    });
  });
}

const NO_BODY: Promise<Buffer> = Promise.resolve(Buffer.alloc(0));
/** Free body buffers kept for reuse, at most. */
const BODY_POOL_BYTES = 32 * 1024 * 1024;

export interface Server {
  listen(host: string, port: number): Promise<number>;
  /** Stops accepting connections; requests in flight go on. */
  close(): void;
  /** Resolves once no request is in flight (streams excluded). */
  idle(): Promise<void>;
}

export function createServer(routes: Route[], options: ServerOptions, hooks: ServerHooks = {}): Server {
  const { App, us_listen_socket_close, us_socket_local_port } = uws();
  const app: TemplatedApp = App();
  const extraHeaders: [string, string][] = options.corsOrigin ? [['Access-Control-Allow-Origin', options.corsOrigin]] : [];
  if (options.corsOrigin) {
    if (options.corsOrigin !== '*') extraHeaders.push(['Vary', 'Origin']);
    // Preflights of browser dashboards.
    app.options('/*', (res: HttpResponse) => {
      res.writeStatus('204 No Content');
      for (const [k, v] of extraHeaders) res.writeHeader(k, v);
      res.writeHeader('Access-Control-Allow-Methods', 'GET, POST, DELETE, OPTIONS');
      res.writeHeader('Access-Control-Allow-Headers', 'Content-Type, Authorization, Last-Event-ID');
      res.writeHeader('Access-Control-Max-Age', '600');
      res.endWithoutBody();
    });
  }
  const bodies = new BodyPool(BODY_POOL_BYTES);
  let inFlight = 0;
  let onIdle: (() => void)[] = [];
  const settle = () => {
    if (--inFlight === 0 && onIdle.length > 0) {
      const waiting = onIdle;
      onIdle = [];
      for (const fn of waiting) fn();
    }
  };
  const patterns = routes.map((r) => ({
    method: r.method,
    regex: new RegExp('^' + r.path.replace(/:[^/]+/g, '[^/]+') + '$'),
  }));

  for (const route of routes) {
    const paramCount = (route.path.match(/:/g) ?? []).length;
    app[route.method](route.path, (res: HttpResponse, req: HttpRequest) => {
      const startedMs = performance.now();
      const ctx: RequestContext = new Context(
        req.getMethod(),
        req.getUrl(),
        req.getQuery() ?? '',
        {
          contentType: req.getHeader('content-type'),
          lastEventId: req.getHeader('last-event-id'),
          authorization: req.getHeader('authorization'),
        },
        res,
        extraHeaders,
      );
      res.onAborted(() => {
        ctx.aborted = true;
        ctx.onAbort?.();
      });
      // The body's pooled buffer goes back once the handler is done with the request and the body
      // is settled (a handler may answer before it arrived): nothing refers to it after that.
      let pooled: Buffer | undefined;
      const release = () => {
        const buf = pooled;
        if (buf === undefined) return;
        pooled = undefined;
        const give = () => bodies.give(buf);
        ctx.body.then(give, give);
      };
      const finish = (reply: Reply) => {
        writeReply(ctx, reply);
        hooks.onReply?.(route.path, ctx.method, reply.status, startedMs);
      };
      try {
        if (route.access && options.authorize && !options.authorize(route.access, ctx.headers.authorization)) {
          options.onRefused?.('unauthorized');
          if (route.maxBodyBytes !== undefined) res.onData(() => {});
          throw new ApiError('UNAUTHORIZED', `this ${route.access} needs a bearer token: send Authorization: Bearer <token>`, undefined, { 'WWW-Authenticate': 'Bearer' });
        }
        for (let i = 0; i < paramCount; i++) {
          const raw = req.getParameter(i) ?? '';
          try {
            ctx.params.push(decodeURIComponent(raw));
          } catch {
            throw new ApiError('NOT_FOUND', `path segment ${JSON.stringify(raw)} is not valid percent-encoding`);
          }
        }
        if (route.maxBodyBytes !== undefined) {
          const declared = Number(req.getHeader('content-length') || '0');
          const length = Number.isSafeInteger(declared) && declared > 0 && declared <= route.maxBodyBytes ? declared : 0;
          pooled = length > 0 ? bodies.take(length) : undefined;
          ctx.body = readBody(res, length > 0 ? length : Number.isFinite(declared) ? declared : 0, pooled, route.maxBodyBytes, options.bodyTimeoutMs, (fn) => (ctx.onAbort = fn));
          // A handler may fail before awaiting the body; the rejection is answered there.
          ctx.body.catch((e: unknown) => {
            const code = (e as { code?: string }).code;
            if (code === 'BODY_TOO_LARGE') options.onRefused?.('body_too_large');
            else if (code === 'REQUEST_TIMEOUT') options.onRefused?.('body_timeout');
          });
        }
        const out = route.handle(ctx);
        if (out instanceof Promise) {
          inFlight++;
          out
            .then(
              (reply) => {
                if (reply) finish(reply);
              },
              (e: unknown) => finish(toReply(e, hooks)),
            )
            .finally(() => {
              release();
              settle();
            });
        } else {
          if (out) finish(out);
          release();
        }
      } catch (e) {
        finish(toReply(e, hooks));
        release();
      }
    });
  }

  app.any('/*', (res: HttpResponse, req: HttpRequest) => {
    const path = req.getUrl();
    const method = req.getMethod();
    const allowed = patterns.filter((p) => p.regex.test(path)).map((p) => (p.method === 'del' ? 'DELETE' : p.method.toUpperCase()));
    res.onAborted(() => {});
    // Drain any body so the connection stays usable.
    res.onData(() => {});
    const reply: Reply =
      allowed.length > 0
        ? { status: 405, body: JSON.stringify({ detail: `Method ${method.toUpperCase()} not allowed; use ${allowed.join(', ')}` }), headers: { Allow: allowed.join(', ') } }
        : { status: 404, body: JSON.stringify({ detail: 'Not Found' }) };
    writeReply({ res, aborted: false, extraHeaders }, reply);
    hooks.onReply?.('unmatched', method, reply.status, performance.now());
  });

  let listenSocket: us_listen_socket | undefined;
  return {
    listen(host, port) {
      return new Promise((resolve, reject) => {
        app.listen(host, port, (token) => {
          if (!token) {
            reject(new Error(`could not listen on ${host}:${port}`));
            return;
          }
          listenSocket = token;
          resolve(us_socket_local_port(token));
        });
      });
    },
    close() {
      if (listenSocket) us_listen_socket_close(listenSocket);
      listenSocket = undefined;
    },
    idle() {
      if (inFlight === 0) return Promise.resolve();
      return new Promise((resolve) => onIdle.push(resolve));
    },
  };
}

function toReply(e: unknown, hooks: ServerHooks): Reply {
  if (e instanceof ApiError) return errorReply(e);
  hooks.onError?.(e);
  return { status: 500, body: JSON.stringify({ detail: 'Internal Server Error' }) };
}
