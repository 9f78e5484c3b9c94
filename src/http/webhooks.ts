// Delivery of alerts to rules' callback_url: an HTTP POST of the same JSON the SSE stream carries.
// Best effort and bounded: a fixed number of requests in flight, a bounded queue (the oldest waiting
// alert is dropped when it is full), a timeout per request, no retries. Ingestion never waits for it.
import type { FiredAlert } from '../engine/alerts.js';
import { alertJson } from './sse.js';

export interface WebhookOptions {
  inFlightMax: number;
  queueMax: number;
  timeoutMs: number;
}

export const DEFAULT_WEBHOOK_OPTIONS: WebhookOptions = { inFlightMax: 16, queueMax: 10_000, timeoutMs: 5_000 };

export interface WebhookCounters {
  delivered: number;
  failed: number;
  dropped: number;
}

export class Webhooks {
  private readonly queue: { url: string; body: string }[] = [];
  private inFlight = 0;
  private closed = false;
  readonly counters: WebhookCounters = { delivered: 0, failed: 0, dropped: 0 };

  constructor(
    private readonly options: WebhookOptions = DEFAULT_WEBHOOK_OPTIONS,
    private readonly onFailure: (url: string, why: string) => void = () => {},
  ) {}

  deliver(alerts: readonly FiredAlert[]): void {
    if (this.closed) return;
    for (const a of alerts) {
      if (a.callback_url === undefined) continue;
      if (this.queue.length >= this.options.queueMax) {
        this.queue.shift();
        this.counters.dropped++;
      }
      this.queue.push({ url: a.callback_url, body: alertJson(a) });
    }
    this.pump();
  }

  close(): void {
    this.closed = true;
    this.counters.dropped += this.queue.length;
    this.queue.length = 0;
  }

  private pump(): void {
    while (this.inFlight < this.options.inFlightMax && this.queue.length > 0) {
      const job = this.queue.shift()!;
      this.inFlight++;
      fetch(job.url, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: job.body,
        signal: AbortSignal.timeout(this.options.timeoutMs),
      })
        .then(
          async (r) => {
            await r.body?.cancel();
            if (r.ok) this.counters.delivered++;
            else {
              this.counters.failed++;
              this.onFailure(job.url, `HTTP ${r.status}`);
            }
          },
          (e: unknown) => {
            this.counters.failed++;
            this.onFailure(job.url, String((e as Error)?.message ?? e));
          },
        )
        .finally(() => {
          this.inFlight--;
          this.pump();
        });
    }
  }
}
