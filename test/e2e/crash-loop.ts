// Shared by the durability and crash end-to-end tests: a ledger of what was sent and what the
// service acknowledged, concurrent loaders that post events (batches, single events, repeats) and
// alert rules while recording every answer, hard kills, and a check of a restarted service's state
// against the ledger.
//
// What "acknowledged" means here: a 200 answer. An event answered `stored`/`ok` or `duplicate` is
// one the service has said it holds, so it must be there, exactly once, after any restart. An event
// whose request failed (connection cut by a kill, 503 while stopping) may or may not be there, but
// nothing that was never sent may appear.
import type { ChildProcess } from 'node:child_process';
import { readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { get, postJson, sleep } from './helpers.js';

export const METRICS = ['temp', 'hum'] as const;
export type MetricName = (typeof METRICS)[number];

export interface SentEvent {
  event_id: string;
  device_id: string;
  /** What was sent: ISO string or epoch ms. */
  timeStamp: string | number;
  metrics: Partial<Record<MetricName, number>>;
  tags: string[];
}

export interface SentRule {
  device_id: string;
  metric: string;
  op: string;
  threshold: number;
}

import { rng } from '../support/random.js';

export { rng };

export const key = (deviceId: string, eventId: string): string => `${deviceId}\u0000${eventId}`;

/** Event times: a two-day window in March 2025 (well inside raw retention of every device). */
const T0_MS = Date.UTC(2025, 2, 1);
const SPAN_MS = 2 * 24 * 3600 * 1000;

export class Ledger {
  /** Every event ever sent, by (device, event) key; a repeat is sent with the very same fields. */
  readonly sent = new Map<string, SentEvent>();
  /** Keys answered 200 (stored/ok or duplicate). */
  readonly acked = new Set<string>();
  /** Rules sent (acknowledged or not). */
  readonly rulesSent: SentRule[] = [];
  /** Rules answered 200, with their id. */
  readonly rulesAcked = new Map<number, SentRule>();
  /** Anything the service answered that contradicts the contract while it was up. */
  readonly problems: string[] = [];
  /** Requests that failed with a network error or a non-200 (expected only around a stop/kill). */
  failures = 0;
  private seq = 0;

  constructor(
    readonly devices: string[],
    readonly prefix: string,
  ) {}

  /** A fresh event with a unique id. */
  newEvent(r: () => number, tag: string): SentEvent {
    const device_id = this.devices[Math.floor(r() * this.devices.length)]!;
    const event_id = `${this.prefix}-${(++this.seq).toString(36)}`;
    const ms = T0_MS + Math.floor(r() * SPAN_MS);
    const pick = r();
    const metrics: SentEvent['metrics'] = {};
    if (pick < 0.8) metrics.temp = Math.round(r() * 10_000) / 100;
    if (pick >= 0.6) metrics.hum = Math.round(r() * 10_000) / 100;
    const tags = [`site:${Math.floor(r() * 5)}`, tag];
    const e: SentEvent = { event_id, device_id, timeStamp: r() < 0.5 ? new Date(ms).toISOString() : ms, metrics, tags };
    return e;
  }

  /** How many times each key went out (a key sent by one request only must be answered `stored` once). */
  readonly sends = new Map<string, number>();

  /** Records an event as sent (before its request goes out). */
  noteSent(e: SentEvent): void {
    const k = key(e.device_id, e.event_id);
    if (!this.sent.has(k)) this.sent.set(k, e);
    this.sends.set(k, (this.sends.get(k) ?? 0) + 1);
  }

  ackedEvents(): SentEvent[] {
    return [...this.acked].map((k) => this.sent.get(k)!);
  }
}

export interface LoadOptions {
  loaders: number;
  /** Events per second per loader (throttle, so the ledger stays small enough to verify). */
  eventsPerSecond: number;
  /** Stop sending new events past this many for this load (repeats still count). */
  eventsMax: number;
  /** Alert rules to register during the load, at random moments. */
  rules: number;
  seed: number;
}

export interface Load {
  /** Tells the loaders to stop after their current request; resolves when they did. */
  stop(): Promise<void>;
  /** Resolves when every loader has ended (by stop(), or because the server went away). */
  done: Promise<void>;
  /** Events this load sent (new ones, not repeats). */
  readonly newEvents: () => number;
}

/**
 * Starts `loaders` concurrent loaders against `base`, recording into `ledger`. A loader ends when
 * told to stop, or at the first request that fails with a network error once `dying()` is true.
 * A failure while the server is meant to be up is recorded as a problem.
 */
export function startLoad(base: string, ledger: Ledger, opts: LoadOptions, dying: () => boolean): Load {
  let stopped = false;
  let newCount = 0;
  const r0 = rng(opts.seed);
  const loader = async (n: number) => {
    const r = rng(opts.seed * 31 + n + 1);
    const started = performance.now();
    let sentHere = 0;
    while (!stopped) {
      const kind = r();
      let body: SentEvent[];
      let single = false;
      const budgetLeft = opts.eventsMax - newCount;
      if (kind < 0.1 && budgetLeft > 0) {
        body = [ledger.newEvent(r, `loader:${n}`)];
        single = true;
        newCount++;
      } else if (kind < 0.22 && ledger.sent.size > 0) {
        // Repeats of events already sent (acknowledged or still in flight elsewhere), mixed with new ones.
        const all = [...ledger.sent.values()];
        body = [];
        const repeats = 1 + Math.floor(r() * 20);
        for (let i = 0; i < repeats; i++) body.push(all[Math.floor(r() * all.length)]!);
        const fresh = Math.min(budgetLeft, Math.floor(r() * 20));
        for (let i = 0; i < fresh; i++) body.push(ledger.newEvent(r, `loader:${n}`));
        newCount += Math.max(0, fresh);
        for (let i = body.length - 1; i > 0; i--) {
          const j = Math.floor(r() * (i + 1));
          [body[i], body[j]] = [body[j]!, body[i]!];
        }
        if (r() < 0.3 && body.length > 0) single = (body = [body[0]!]).length === 1;
      } else if (budgetLeft > 0) {
        const size = Math.min(budgetLeft, 20 + Math.floor(r() * 181));
        body = [];
        for (let i = 0; i < size; i++) body.push(ledger.newEvent(r, `loader:${n}`));
        newCount += size;
      } else {
        await sleep(20);
        continue;
      }
      // What the ledger knew before this request: acknowledged keys must come back `duplicate`.
      const wasAcked = body.map((e) => ledger.acked.has(key(e.device_id, e.event_id)));
      for (const e of body) ledger.noteSent(e);
      sentHere += body.length;
      let res;
      try {
        res = single ? await postJson(base, '/v1/events', body[0]) : await postJson(base, '/v1/events/batch', body);
      } catch (e) {
        ledger.failures++;
        if (!dying() && !stopped) ledger.problems.push(`loader ${n}: request failed while the server was up: ${String((e as Error)?.cause ?? e)}`);
        return;
      }
      if (res.status !== 200) {
        ledger.failures++;
        if (!dying() && !stopped) ledger.problems.push(`loader ${n}: ${res.status} while the server was up: ${res.text.slice(0, 300)}`);
        if (res.status === 503 || dying()) return;
        continue;
      }
      checkAnswer(ledger, body, single, res.body, wasAcked, `loader ${n}`);
      // Throttle to eventsPerSecond.
      const dueMs = (sentHere / opts.eventsPerSecond) * 1000 - (performance.now() - started);
      if (dueMs > 0) await sleep(Math.min(dueMs, 200));
    }
  };
  const ruleLoader = async () => {
    for (let i = 0; i < opts.rules && !stopped; i++) {
      await sleep(Math.floor(r0() * 300));
      if (stopped) return;
      const rule: SentRule = {
        device_id: ledger.devices[Math.floor(r0() * ledger.devices.length)]!,
        metric: METRICS[Math.floor(r0() * METRICS.length)]!,
        op: ['>', '<', '>=', '<=', '==', '!='][Math.floor(r0() * 6)]!,
        threshold: Math.round(r0() * 10_000) / 100,
      };
      ledger.rulesSent.push(rule);
      let res;
      try {
        res = await postJson(base, '/v1/alerts', rule);
      } catch (e) {
        ledger.failures++;
        if (!dying() && !stopped) ledger.problems.push(`rules: request failed while the server was up: ${String((e as Error)?.cause ?? e)}`);
        return;
      }
      if (res.status !== 200) {
        ledger.failures++;
        if (!dying() && !stopped) ledger.problems.push(`rules: ${res.status} while the server was up: ${res.text.slice(0, 300)}`);
        return;
      }
      if (res.body?.status !== 'alert registered' || !Number.isInteger(res.body?.id)) {
        ledger.problems.push(`rules: unexpected answer ${res.text}`);
        continue;
      }
      if (ledger.rulesAcked.has(res.body.id)) ledger.problems.push(`rules: id ${res.body.id} answered twice (${JSON.stringify(ledger.rulesAcked.get(res.body.id))} and ${JSON.stringify(rule)})`);
      ledger.rulesAcked.set(res.body.id, rule);
    }
  };
  const done = Promise.all([...Array.from({ length: opts.loaders }, (_, n) => loader(n)), ruleLoader()]).then(() => undefined);
  return {
    done,
    async stop() {
      stopped = true;
      await done;
    },
    newEvents: () => newCount,
  };
}

/** Checks one 200 answer against what was sent, and records the acknowledged events. */
function checkAnswer(ledger: Ledger, body: SentEvent[], single: boolean, answer: any, wasAcked: boolean[], who: string): void {
  const statuses: string[] = [];
  if (single) {
    if (answer?.status === 'ok') statuses.push('stored');
    else if (answer?.status === 'duplicate') statuses.push('duplicate');
    else {
      ledger.problems.push(`${who}: single event answered ${JSON.stringify(answer)}`);
      return;
    }
  } else {
    if (!Array.isArray(answer) || answer.length !== body.length) {
      ledger.problems.push(`${who}: batch of ${body.length} answered ${JSON.stringify(answer)?.slice(0, 300)}`);
      return;
    }
    for (let i = 0; i < body.length; i++) {
      const a = answer[i];
      if (a?.event_id !== body[i]!.event_id || (a.status !== 'stored' && a.status !== 'duplicate')) {
        ledger.problems.push(`${who}: batch item ${i} (${body[i]!.event_id}) answered ${JSON.stringify(a)}`);
        return;
      }
      statuses.push(a.status);
    }
  }
  const inBody = new Map<string, number>();
  for (const e of body) inBody.set(key(e.device_id, e.event_id), (inBody.get(key(e.device_id, e.event_id)) ?? 0) + 1);
  const seenHere = new Set<string>();
  for (let i = 0; i < body.length; i++) {
    const e = body[i]!;
    const k = key(e.device_id, e.event_id);
    if (wasAcked[i] && statuses[i] !== 'duplicate') ledger.problems.push(`${who}: ${e.device_id}/${e.event_id} was acknowledged before, answered ${statuses[i]} again`);
    // Sent by no other request: its first occurrence here must be the one stored.
    const onlyHere = ledger.sends.get(k) === inBody.get(k);
    if (onlyHere && !seenHere.has(k) && statuses[i] !== 'stored') ledger.problems.push(`${who}: ${e.device_id}/${e.event_id} sent by this request only, answered ${statuses[i]}`);
    if (seenHere.has(k) && statuses[i] !== 'duplicate') ledger.problems.push(`${who}: ${e.device_id}/${e.event_id} repeated inside one batch, answered ${statuses[i]}`);
    seenHere.add(k);
    ledger.acked.add(k);
  }
}

/** SIGKILL, and wait until the process is gone. */
export async function killHard(proc: ChildProcess): Promise<void> {
  if (proc.exitCode !== null || proc.signalCode !== null) return;
  const exited = new Promise<void>((resolve) => proc.once('exit', () => resolve()));
  proc.kill('SIGKILL');
  await exited;
}

const iso = (t: string | number): string => new Date(t).toISOString();

/** Compares a served event with what was sent. */
function sameEvent(served: any, sent: SentEvent): boolean {
  if (served.device_id !== sent.device_id || served.event_id !== sent.event_id) return false;
  if (served.timeStamp !== iso(sent.timeStamp)) return false;
  const m = served.metrics ?? {};
  const want = sent.metrics;
  const names = Object.keys(m).sort();
  if (names.join(',') !== Object.keys(want).sort().join(',')) return false;
  for (const n of names) if (m[n] !== want[n as MetricName]) return false;
  return JSON.stringify([...(served.tags ?? [])].sort()) === JSON.stringify([...sent.tags].sort());
}

export interface StateReport {
  /** Contract violations found; empty when the state checks out. */
  problems: string[];
  /** Keys of the events present. */
  present: Set<string>;
  counts: Record<MetricName, number>;
}

/**
 * Reads every device's events and the all-device aggregates, and checks them against the ledger:
 * no event twice, every acknowledged event present with the fields it was sent with, nothing that
 * was never sent, aggregate counts (and sums) equal to the events present, acknowledged rules listed.
 */
export async function verifyState(base: string, ledger: Ledger): Promise<StateReport> {
  const problems: string[] = [];
  const present = new Set<string>();
  await Promise.all(
    ledger.devices.map(async (d) => {
      const res = await get(base, `/v1/devices/${encodeURIComponent(d)}/events?limit=10000`);
      if (res.status !== 200 || !Array.isArray(res.body)) {
        problems.push(`GET events of ${d}: ${res.status} ${res.text.slice(0, 200)}`);
        return;
      }
      if (res.body.length >= 10_000) problems.push(`device ${d} has ${res.body.length} events: the test cannot see them all (keep the load smaller)`);
      for (const e of res.body) {
        const k = key(d, e.event_id);
        if (present.has(k)) problems.push(`${d}/${e.event_id} is present more than once`);
        present.add(k);
        const sent = ledger.sent.get(k);
        if (!sent) problems.push(`${d}/${e.event_id} is present but was never sent: ${JSON.stringify(e)}`);
        else if (!sameEvent(e, sent)) problems.push(`${d}/${e.event_id} served as ${JSON.stringify(e)}, sent as ${JSON.stringify(sent)}`);
      }
    }),
  );
  let missing = 0;
  for (const k of ledger.acked) {
    if (!present.has(k)) {
      if (missing < 20) problems.push(`acknowledged event ${k.replace('\u0000', '/')} is missing`);
      missing++;
    }
  }
  if (missing > 20) problems.push(`... ${missing} acknowledged events missing in all (of ${ledger.acked.size})`);

  const counts = { temp: 0, hum: 0 } as Record<MetricName, number>;
  for (const m of METRICS) {
    let want = 0;
    let wantSum = 0;
    for (const k of present) {
      const v = ledger.sent.get(k)?.metrics[m];
      if (v !== undefined) {
        want++;
        wantSum += v;
      }
    }
    const res = await get(base, `/v1/metrics/aggregate?metric=${m}&interval=1d`);
    if (res.status !== 200 || !Array.isArray(res.body)) {
      problems.push(`aggregate ${m}: ${res.status} ${res.text.slice(0, 200)}`);
      continue;
    }
    const got = res.body.reduce((n: number, b: any) => n + b.count, 0);
    const gotSum = res.body.reduce((n: number, b: any) => n + b.sum, 0);
    counts[m] = got;
    if (got !== want) problems.push(`aggregate ${m} over all time counts ${got}, but ${want} distinct events carrying ${m} are present`);
    else if (Math.abs(gotSum - wantSum) > 1e-6 * Math.max(1, Math.abs(wantSum))) problems.push(`aggregate ${m} sums to ${gotSum}, the events present to ${wantSum}`);
  }

  const rules = await get(base, '/v1/alerts');
  if (rules.status !== 200 || !Array.isArray(rules.body)) problems.push(`GET /v1/alerts: ${rules.status} ${rules.text.slice(0, 200)}`);
  else {
    const byId = new Map<number, any>();
    for (const r of rules.body) {
      if (byId.has(r.id)) problems.push(`rule id ${r.id} listed twice`);
      byId.set(r.id, r);
      const sent = ledger.rulesSent.some((s) => s.device_id === r.device_id && s.metric === r.metric && s.op === r.op && s.threshold === r.threshold);
      if (!sent) problems.push(`rule ${JSON.stringify(r)} is listed but was never sent`);
    }
    for (const [id, want] of ledger.rulesAcked) {
      const got = byId.get(id);
      if (!got) problems.push(`acknowledged rule ${id} ${JSON.stringify(want)} is not listed by GET /v1/alerts`);
      else if (got.device_id !== want.device_id || got.metric !== want.metric || got.op !== want.op || got.threshold !== want.threshold) {
        problems.push(`rule ${id} listed as ${JSON.stringify(got)}, registered as ${JSON.stringify(want)}`);
      }
    }
  }
  return { problems, present, counts };
}

/** Posts some acknowledged events again (a batch and one single event): each must be a duplicate. */
export async function resendAcked(base: string, ledger: Ledger, r: () => number, n: number): Promise<string[]> {
  const problems: string[] = [];
  const acked = ledger.ackedEvents();
  if (acked.length === 0) return problems;
  const pick: SentEvent[] = [];
  for (let i = 0; i < n; i++) pick.push(acked[Math.floor(r() * acked.length)]!);
  const res = await postJson(base, '/v1/events/batch', pick);
  if (res.status !== 200 || !Array.isArray(res.body)) problems.push(`resend batch: ${res.status} ${res.text.slice(0, 200)}`);
  else {
    res.body.forEach((a: any, i: number) => {
      if (a.event_id !== pick[i]!.event_id || a.status !== 'duplicate') problems.push(`resent acknowledged ${pick[i]!.device_id}/${pick[i]!.event_id} answered ${JSON.stringify(a)}`);
    });
  }
  const one = await postJson(base, '/v1/events', pick[0]);
  if (one.status !== 200 || one.body?.status !== 'duplicate') problems.push(`resent acknowledged single ${pick[0]!.device_id}/${pick[0]!.event_id} answered ${one.status} ${one.text}`);
  return problems;
}

/** The shard directories of a data dir. */
export const shardDirs = (dataDir: string): string[] =>
  readdirSync(dataDir)
    .filter((n) => /^shard-\d+$/.test(n))
    .sort()
    .map((n) => join(dataDir, n));

/** The newest non-empty log segment of a shard dir (by name), or undefined. */
export function newestNonEmptySegment(dir: string): string | undefined {
  const segs = readdirSync(dir)
    .filter((n) => /^\d{16}\.log$/.test(n))
    .sort()
    .reverse();
  for (const s of segs) if (statSync(join(dir, s)).size > 0) return join(dir, s);
  return undefined;
}

/** The structured log lines a server printed. */
export function logLines(output: string): any[] {
  const out: any[] = [];
  for (const line of output.split('\n')) {
    if (!line.startsWith('{')) continue;
    try {
      out.push(JSON.parse(line));
    } catch {
      // not a JSON line
    }
  }
  return out;
}
