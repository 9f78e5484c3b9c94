// Single-event POSTs arriving together are sent to their shard as one task: the events validated in
// one turn of the event loop are gathered per shard and sent on the next, so a hundred concurrent
// clients cost a few tasks and a few log records, not a hundred of each. Each request still gets
// its own event's status. A coalesced task refused for the device limit is retried event by event,
// so one new device cannot get a known device's event refused.
import type { FiredAlert } from '../engine/alerts.js';
import type { EventIn } from '../api/schemas.js';
import type { ShardClient } from '../shard/client.js';
import { BatchBuilder } from '../shard/protocol.js';

interface Waiter {
  resolve(status: number): void;
  reject(e: unknown): void;
}

interface Pending {
  builder: BatchBuilder;
  events: EventIn[];
  waiters: Waiter[];
}

export class IngestCoalescer {
  private readonly pending = new Map<number, Pending>();
  private scheduled = false;

  constructor(
    private readonly shards: ShardClient,
    private readonly onAlerts: (alerts: FiredAlert[]) => void,
  ) {}

  /** Resolves to the engine status of this event (STORED or DUPLICATE). */
  submit(e: EventIn): Promise<number> {
    const shard = this.shards.shardOf(e.device_id);
    let p = this.pending.get(shard);
    if (p === undefined) {
      p = { builder: new BatchBuilder(), events: [], waiters: [] };
      this.pending.set(shard, p);
    }
    p.builder.add(p.events.length, e.device_id, e.event_id, e.timeStamp, e.metrics, e.tags);
    p.events.push(e);
    const done = new Promise<number>((resolve, reject) => p.waiters.push({ resolve, reject }));
    if (!this.scheduled) {
      this.scheduled = true;
      setImmediate(() => this.flush());
    }
    return done;
  }

  private flush(): void {
    this.scheduled = false;
    const batches = [...this.pending];
    this.pending.clear();
    for (const [shard, p] of batches) void this.send(shard, p);
  }

  private async send(shard: number, p: Pending): Promise<void> {
    try {
      const result = await this.shards.ingest(shard, p.builder.build());
      if (result.alerts.length > 0) this.onAlerts(result.alerts);
      p.waiters.forEach((w, k) => w.resolve(result.statuses[k]!));
    } catch (e) {
      if ((e as { code?: string }).code === 'TOO_MANY_DEVICES' && p.events.length > 1) {
        // Each event on its own, so only those of new devices are refused.
        p.events.forEach((ev, k) => {
          const one: Pending = { builder: new BatchBuilder(), events: [ev], waiters: [p.waiters[k]!] };
          one.builder.add(0, ev.device_id, ev.event_id, ev.timeStamp, ev.metrics, ev.tags);
          void this.send(shard, one);
        });
        return;
      }
      for (const w of p.waiters) w.reject(e);
    }
  }
}
