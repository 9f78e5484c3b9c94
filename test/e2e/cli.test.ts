// The command-line client against the real server.
import { spawn, spawnSync } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { tempDir } from '../support/temp-dir.js';
import { startServer, type RunningServer } from './server.js';

let server: RunningServer;
const cli = (...args: string[]) =>
  spawnSync(process.execPath, ['dist/cli.js', ...args], { env: { ...process.env, TELEMETRY_URL: server.url }, encoding: 'utf8', timeout: 15_000 });

beforeAll(async () => {
  server = await startServer();
});
afterAll(async () => {
  await server.stop();
});

describe('telemetry CLI', () => {
  it('ingests a file, then reads events, aggregates and searches', () => {
    const file = join(tempDir('cli-'), 'events.ndjson');
    const lines = [
      { event_id: 'c1', device_id: 'cli-dev', timeStamp: '2025-01-15T10:00:00Z', metrics: { t: 5 }, tags: ['cli-tag'] },
      { event_id: 'c2', device_id: 'cli-dev', timeStamp: '2025-01-15T10:00:30Z', metrics: { t: 7 }, tags: ['cli-tag', 'other'] },
      { event_id: 'bad' },
    ];
    writeFileSync(file, lines.map((l) => JSON.stringify(l)).join('\n'));
    const ing = cli('ingest', file, '--batch', '2');
    expect(ing.status).toBe(0);
    expect(JSON.parse(ing.stdout)).toEqual({ stored: 2, duplicate: 0, invalid: 1 });
    expect(ing.stderr).toContain('invalid bad');
    expect(JSON.parse(cli('ingest', file).stdout)).toEqual({ stored: 0, duplicate: 2, invalid: 1 });

    const events = JSON.parse(cli('events', 'cli-dev', '--limit', '1').stdout) as { event_id: string }[];
    expect(events.map((e) => e.event_id)).toEqual(['c2']);
    const buckets = JSON.parse(cli('aggregate', 't', '--device', 'cli-dev', '--interval', '1h').stdout) as { count: number; sum: number }[];
    expect(buckets).toEqual([{ bucket: '2025-01-15T10:00:00.000Z', count: 2, sum: 12, avg: 6, min: 5, max: 7 }]);
    const hits = JSON.parse(cli('search', 'cli-tag', 'other').stdout) as { event_id: string }[];
    expect(hits.map((e) => e.event_id)).toEqual(['c2']);
    const bad = cli('frobnicate');
    expect(bad.status).toBe(1);
    expect(bad.stderr).toContain('unknown command');
  });

  it('tail prints each alert as a JSON line', async () => {
    const r = await fetch(`${server.url}/v1/alerts`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ device_id: 'cli-tail', metric: 't', op: '>', threshold: 1 }),
    });
    expect(r.status).toBe(200);
    const child = spawn(process.execPath, ['dist/cli.js', 'tail', '--device', 'cli-tail'], { env: { ...process.env, TELEMETRY_URL: server.url } });
    let out = '';
    child.stdout.on('data', (c: Buffer) => (out += c.toString()));
    try {
      // The stream may not be subscribed yet on the first tries: send until an alert shows.
      const deadline = Date.now() + 10_000;
      for (let i = 0; !out.includes('\n') && Date.now() < deadline; i++) {
        await fetch(`${server.url}/v1/events`, {
          method: 'POST',
          headers: { 'content-type': 'application/json' },
          body: JSON.stringify({ event_id: `tail-${i}`, device_id: 'cli-tail', timeStamp: 1_736_935_200_000 + i, metrics: { t: 2 } }),
        });
        await new Promise((resolve) => setTimeout(resolve, 200));
      }
      const first = JSON.parse(out.split('\n')[0]!) as { device_id: string; metric: string; value: number };
      expect(first).toMatchObject({ device_id: 'cli-tail', metric: 't', value: 2 });
    } finally {
      child.kill();
    }
  });
});
