#!/usr/bin/env node
// `telemetry`: a small command-line client for people who live in terminals.
//   telemetry ingest FILE            events from a JSON array or NDJSON file (- for stdin), in batches
//   telemetry events DEVICE          recent events of a device
//   telemetry aggregate METRIC       buckets of a metric
//   telemetry search TAG [TAG ...]   events carrying all the tags
//   telemetry tail                   the alert stream, one JSON alert per line
// Options: --url (default $TELEMETRY_URL or http://localhost:8000), --device, --from, --to,
// --limit, --interval, --batch (events per request, default 1000).
import { readFileSync } from 'node:fs';
import { parseArgs } from 'node:util';

const USAGE = `usage: telemetry <ingest FILE | events DEVICE | aggregate METRIC | search TAG... | tail> [options]
options: --url URL  --device ID  --from TIME  --to TIME  --limit N  --interval 1m  --batch N`;

const { values: opt, positionals } = parseArgs({
  allowPositionals: true,
  options: {
    url: { type: 'string', default: process.env.TELEMETRY_URL ?? 'http://localhost:8000' },
    device: { type: 'string' },
    from: { type: 'string' },
    to: { type: 'string' },
    limit: { type: 'string' },
    interval: { type: 'string' },
    batch: { type: 'string', default: '1000' },
    help: { type: 'boolean', short: 'h' },
  },
});

const fail = (msg: string): never => {
  process.stderr.write(`telemetry: ${msg}\n`);
  process.exit(1);
};

async function request(path: string, init?: RequestInit): Promise<unknown> {
  const r = await fetch(new URL(path, opt.url), init);
  const text = await r.text();
  if (!r.ok) fail(`${init?.method ?? 'GET'} ${path}: HTTP ${r.status} ${text}`);
  return JSON.parse(text) as unknown;
}

function query(params: Record<string, string | string[] | undefined>): string {
  const q = new URLSearchParams();
  for (const [k, v] of Object.entries(params)) {
    if (v === undefined) continue;
    for (const x of Array.isArray(v) ? v : [v]) q.append(k, x);
  }
  const s = q.toString();
  return s ? `?${s}` : '';
}

function readEvents(file: string): unknown[] {
  const text = readFileSync(file === '-' ? 0 : file, 'utf8').trim();
  if (text.startsWith('[')) return JSON.parse(text) as unknown[];
  return text
    .split('\n')
    .filter((l) => l.trim() !== '')
    .map((l) => JSON.parse(l) as unknown);
}

async function ingest(file: string): Promise<void> {
  const events = readEvents(file);
  const size = Number(opt.batch);
  if (!Number.isInteger(size) || size < 1) fail('--batch must be a positive integer');
  const counts: Record<string, number> = { stored: 0, duplicate: 0, invalid: 0 };
  for (let i = 0; i < events.length; i += size) {
    const answer = (await request('/v1/events/batch?partial=true', {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify(events.slice(i, i + size)),
    })) as { event_id: string; status: string; error?: string }[];
    for (const a of answer) {
      counts[a.status] = (counts[a.status] ?? 0) + 1;
      if (a.status === 'invalid') process.stderr.write(`invalid ${a.event_id}: ${a.error}\n`);
    }
  }
  process.stdout.write(`${JSON.stringify(counts)}\n`);
}

async function tail(): Promise<void> {
  const r = await fetch(new URL(`/v1/alerts/stream${query({ device_id: opt.device })}`, opt.url));
  if (!r.ok || !r.body) fail(`alert stream: HTTP ${r.status}`);
  const decoder = new TextDecoder();
  let buffered = '';
  for await (const chunk of r.body as unknown as AsyncIterable<Uint8Array>) {
    buffered += decoder.decode(chunk, { stream: true });
    let end: number;
    while ((end = buffered.indexOf('\n\n')) !== -1) {
      const message = buffered.slice(0, end);
      buffered = buffered.slice(end + 2);
      for (const line of message.split('\n')) if (line.startsWith('data: ')) process.stdout.write(`${line.slice(6)}\n`);
    }
  }
}

async function main(): Promise<void> {
  const [command, ...args] = positionals;
  if (opt.help || command === undefined) {
    process.stdout.write(`${USAGE}\n`);
    return;
  }
  const range = { from_time: opt.from, to_time: opt.to };
  const print = (v: unknown): void => void process.stdout.write(`${JSON.stringify(v, null, 2)}\n`);
  switch (command) {
    case 'ingest':
      return ingest(args[0] ?? fail('ingest needs a FILE (or - for stdin)'));
    case 'events':
      return print(await request(`/v1/devices/${encodeURIComponent(args[0] ?? fail('events needs a DEVICE'))}/events${query({ ...range, limit: opt.limit })}`));
    case 'aggregate':
      return print(await request(`/v1/metrics/aggregate${query({ metric: args[0] ?? fail('aggregate needs a METRIC'), device_id: opt.device, ...range, interval: opt.interval })}`));
    case 'search':
      if (args.length === 0) fail('search needs at least one TAG');
      return print(await request(`/v1/search${query({ tag: args, ...range, limit: opt.limit })}`));
    case 'tail':
      return tail();
    default:
      fail(`unknown command ${command}\n${USAGE}`);
  }
}

main().catch((e: unknown) => fail(String((e as Error)?.message ?? e)));
