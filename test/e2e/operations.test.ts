// Operations endpoints against the real server: Prometheus metrics, the OpenAPI document, the
// docs UI served without network, and configuration errors at start-up.
import { spawnSync } from 'node:child_process';
import { Validator } from '@seriousme/openapi-schema-validator';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startServer, type RunningServer } from './server.js';

let server: RunningServer;

beforeAll(async () => {
  server = await startServer();
});
afterAll(async () => {
  await server.stop();
});

const metricsText = async () => {
  const r = await fetch(`${server.url}/metrics`);
  expect(r.status).toBe(200);
  expect(r.headers.get('content-type')).toContain('text/plain');
  return r.text();
};

/** Sample lines as name{labels} -> value. */
function samples(text: string): Map<string, number> {
  const out = new Map<string, number>();
  for (const line of text.split('\n')) {
    if (line === '' || line.startsWith('#')) continue;
    const m = /^([a-zA-Z_:][a-zA-Z0-9_:]*(?:\{[^}]*\})?) (-?[0-9.e+-]+|NaN|\+Inf|-Inf)$/.exec(line);
    if (!m) throw new Error(`not a Prometheus sample line: ${line}`);
    out.set(m[1]!, Number(m[2]));
  }
  return out;
}

const sum = (s: Map<string, number>, prefix: string) => [...s].filter(([k]) => k.startsWith(prefix)).reduce((n, [, v]) => n + v, 0);

describe('GET /metrics', () => {
  it('parses as Prometheus text and its counters move as events are ingested', async () => {
    const before = samples(await metricsText());
    const events = Array.from({ length: 30 }, (_, i) => ({
      event_id: `m-${i}`,
      device_id: `metrics-dev-${i % 7}`,
      timeStamp: 1_736_935_200_000 + i * 1000,
      metrics: { v: i },
      tags: ['metrics-test'],
    }));
    const r = await fetch(`${server.url}/v1/events/batch`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify([...events, events[0]]) });
    expect(r.status).toBe(200);
    const bad = await fetch(`${server.url}/v1/events`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{"event_id":"x"}' });
    expect(bad.status).toBe(422);
    const after = samples(await metricsText());
    expect(sum(after, 'telemetry_events_stored_total') - sum(before, 'telemetry_events_stored_total')).toBe(30);
    expect((after.get('telemetry_events_rejected_total{reason="duplicate"}') ?? 0) - (before.get('telemetry_events_rejected_total{reason="duplicate"}') ?? 0)).toBe(1);
    expect((after.get('telemetry_events_rejected_total{reason="invalid"}') ?? 0) - (before.get('telemetry_events_rejected_total{reason="invalid"}') ?? 0)).toBe(1);
    expect(sum(after, 'telemetry_devices{')).toBeGreaterThanOrEqual(7);
    expect(sum(after, 'telemetry_log_written_bytes_total')).toBeGreaterThan(sum(before, 'telemetry_log_written_bytes_total'));
    expect(after.get('telemetry_fsync_duration_seconds_count')).toBeGreaterThan(0);
    expect(after.get('telemetry_http_request_duration_seconds_count{route="/v1/events/batch",method="post",status="200"}')).toBeGreaterThanOrEqual(1);
    expect([...after.keys()].some((k) => k.startsWith('telemetry_build_info{'))).toBe(true);
    expect([...after.keys()].some((k) => k.startsWith('telemetry_process_cpu_seconds_total'))).toBe(true);
    // never a device_id label
    expect([...after.keys()].some((k) => k.includes('device_id='))).toBe(false);
  });
});

describe('GET /openapi.json', () => {
  it('is a valid OpenAPI 3.1 document listing every route with its parameters', async () => {
    const r = await fetch(`${server.url}/openapi.json`);
    expect(r.status).toBe(200);
    const doc = (await r.json()) as { openapi: string; paths: Record<string, Record<string, { parameters?: { name: string }[] }>> };
    expect(doc.openapi).toBe('3.1.0');
    const validator = new Validator();
    const result = await validator.validate(doc as unknown as Parameters<Validator["validate"]>[0]);
    expect(result.errors ?? []).toEqual([]);
    expect(result.valid).toBe(true);
    const params = (path: string, method: string) => (doc.paths[path]?.[method]?.parameters ?? []).map((p) => p.name).sort();
    expect(Object.keys(doc.paths).sort()).toEqual(
      ['/healthz', '/metrics', '/readyz', '/v1/alerts', '/v1/alerts/stream', '/v1/alerts/{id}', '/v1/devices/{device_id}/events', '/v1/events', '/v1/events/batch', '/v1/metrics/aggregate', '/v1/search'].sort(),
    );
    expect(params('/v1/devices/{device_id}/events', 'get')).toEqual(['device_id', 'from_time', 'limit', 'to_time']);
    expect(params('/v1/metrics/aggregate', 'get')).toEqual(['device_id', 'from_time', 'interval', 'metric', 'to_time']);
    expect(params('/v1/search', 'get')).toEqual(['from_time', 'limit', 'tag', 'to_time']);
    expect(params('/v1/alerts/{id}', 'delete')).toEqual(['id']);
    expect(Object.keys(doc.paths['/v1/alerts']!).sort()).toEqual(['get', 'post']);
  });
});

describe('GET /docs', () => {
  it('serves the Swagger UI page and its assets from the process', async () => {
    const page = await fetch(`${server.url}/docs`);
    expect(page.status).toBe(200);
    expect(page.headers.get('content-type')).toContain('text/html');
    const html = await page.text();
    const assets = [...html.matchAll(/(?:src|href)="(\/docs\/[^"]+)"/g)].map((m) => m[1]!);
    expect(assets.length).toBeGreaterThanOrEqual(3);
    for (const a of assets) {
      const r = await fetch(`${server.url}${a}`);
      expect(r.status, a).toBe(200);
      expect((await r.arrayBuffer()).byteLength, a).toBeGreaterThan(100);
    }
    expect(html).toContain('/openapi.json');
    expect((await fetch(`${server.url}/docs/not-an-asset.js`)).status).toBe(404);
  });
});

describe('configuration', () => {
  it('a bad setting stops start-up with one line naming it', () => {
    const r = spawnSync(process.execPath, ['dist/main.js'], { env: { ...process.env, PORT: 'eighty' }, encoding: 'utf8', timeout: 10_000 });
    expect(r.status).toBe(2);
    expect(r.stderr.trim().split('\n')).toHaveLength(1);
    expect(r.stderr).toContain('PORT');
    const f = spawnSync(process.execPath, ['dist/main.js', '--fsync', 'sometimes'], { encoding: 'utf8', timeout: 10_000 });
    expect(f.status).toBe(2);
    expect(f.stderr).toContain('FSYNC');
  });

  it('--help lists every setting with its default', () => {
    const r = spawnSync(process.execPath, ['dist/main.js', '--help'], { encoding: 'utf8', timeout: 10_000 });
    expect(r.status).toBe(0);
    for (const name of ['PORT', 'HOST', 'DATA_DIR', 'SHARDS', 'FSYNC', 'RING_CAPACITY', 'MAX_BATCH_EVENTS']) expect(r.stdout).toContain(name);
    expect(r.stdout).toContain('[default: 8000]');
  });
});
