// Durability of the real server process: rules and events across clean stops and kills, snapshots,
// the data directory's shard count, torn and damaged log segments, the FSYNC modes, readiness.
// Each case has its own data directory. (The SIGKILL crash loop is crash.test.ts.)
import { spawn } from 'node:child_process';
import { appendFileSync, existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import { startServer, type RunningServer } from './server.js';
import { get, postJson, request, devicesOnBothShards, shardOf, sleep, SseClient } from './helpers.js';
import { key, killHard, Ledger, logLines, newestNonEmptySegment, rng, shardDirs, startLoad, verifyState, type SentEvent } from './crash-loop.js';

const dirs: string[] = [];
const running: RunningServer[] = [];
const clients: SseClient[] = [];

function freshDir(name: string): string {
  const d = mkdtempSync(join(tmpdir(), `telemetry-e2e-${name}-`));
  dirs.push(d);
  return d;
}

async function start(dataDir: string, env: Record<string, string> = {}): Promise<RunningServer> {
  const s = await startServer({ SHARDS: '2', ...env }, { dataDir });
  running.push(s);
  return s;
}

afterEach(async () => {
  for (const c of clients.splice(0)) c.close();
  for (const s of running.splice(0)) if (s.proc.exitCode === null && s.proc.signalCode === null) await killHard(s.proc);
});

afterAll(() => {
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});


/** Posts a batch that must be stored whole; records it as acknowledged. */
async function storeBatch(base: string, ledger: Ledger, events: SentEvent[]): Promise<void> {
  for (const e of events) ledger.noteSent(e);
  const res = await postJson(base, '/v1/events/batch', events);
  expect(res.status, res.text).toBe(200);
  expect(res.body.map((a: any) => a.status)).toEqual(events.map(() => 'stored'));
  for (const e of events) ledger.acked.add(key(e.device_id, e.event_id));
}

function newEvents(ledger: Ledger, r: () => number, n: number, device?: string): SentEvent[] {
  return Array.from({ length: n }, () => {
    const e = ledger.newEvent(r, 'dur');
    return device === undefined ? e : { ...e, device_id: device };
  });
}

async function expectStateMatches(base: string, ledger: Ledger, what: string, output: () => string): Promise<void> {
  const state = await verifyState(base, ledger);
  expect(state.problems, `${what}\n--- server log (tail) ---\n${output().slice(-3000)}`).toEqual([]);
}

/** The structured "recovered" line of a server's log. */
function recoveredLine(s: RunningServer): any {
  const line = logLines(s.output()).find((l) => l.msg === 'recovered');
  expect(line, `no "recovered" log line:\n${s.output()}`).toBeDefined();
  return line;
}

/** Frames of a log segment: [start offset, payload length]. */
function framesOf(buf: Buffer): [number, number][] {
  const out: [number, number][] = [];
  let at = 0;
  while (at + 8 <= buf.length) {
    const n = buf.readUInt32LE(at);
    if (n === 0 || at + 8 + n > buf.length) break;
    out.push([at, n]);
    at += 8 + n;
  }
  return out;
}

describe('alert rules', () => {
  it('survive a clean restart: SIGTERM exits 0, GET /v1/alerts is the same, and a rule still fires on the stream', async () => {
    const dataDir = freshDir('rules');
    let s = await start(dataDir);
    const [devA, devB] = devicesOnBothShards('rules-dev');
    const ids: number[] = [];
    for (const rule of [
      { device_id: devA, metric: 'temp', op: '>', threshold: 32 },
      { device_id: devB, metric: 'hum', op: '<=', threshold: 10.5 },
      { device_id: devA, metric: 'hum', op: '==', threshold: 5 },
      { device_id: devB, metric: 'temp', op: '!=', threshold: 0, callback_url: 'http://127.0.0.1:9/never' },
    ]) {
      const res = await postJson(s.url, '/v1/alerts', rule);
      expect(res.status, res.text).toBe(200);
      ids.push(res.body.id);
    }
    // A removal is durable too.
    expect((await request(s.url, 'DELETE', `/v1/alerts/${ids[2]}`)).status).toBe(200);
    const before = await get(s.url, '/v1/alerts');
    expect(before.status).toBe(200);
    expect(before.body.map((r: any) => r.id)).toEqual([ids[0], ids[1], ids[3]]);

    expect(await s.stop()).toBe(0);
    s = await start(dataDir);
    const after = await get(s.url, '/v1/alerts');
    expect(after.status).toBe(200);
    expect(after.body).toEqual(before.body);

    const sse = await SseClient.open(`${s.url}/v1/alerts/stream?device_id=${devA}`);
    clients.push(sse);
    expect(sse.status).toBe(200);
    await sse.waitUntil(() => sse.frames.some((f) => f.retry !== undefined), 2000, 'retry: hint');
    const ev = { event_id: 'after-restart-1', device_id: devA, timeStamp: '2025-03-01T10:00:00Z', metrics: { temp: 40, hum: 5 }, tags: [] };
    expect((await postJson(s.url, '/v1/events', ev)).body).toEqual({ status: 'ok' });
    await sse.waitForDataFrames(1, 3000);
    await sleep(100);
    // The deleted `hum == 5` rule must not fire; the `temp > 32` one must.
    expect(sse.alerts).toEqual([
      {
        device_id: devA,
        metrics: { temp: 40, hum: 5 },
        time: '2025-03-01T10:00:00.000Z',
        event_id: 'after-restart-1',
        alert_id: ids[0],
        metric: 'temp',
        op: '>',
        threshold: 32,
        value: 40,
      },
    ]);
    sse.close();
    expect(await s.stop()).toBe(0);
  });

  it('a rule id is never handed out again after a restart, not even the id of a deleted rule', async () => {
    const dataDir = freshDir('rule-ids');
    let s = await start(dataDir);
    const rule = { device_id: 'ids-dev', metric: 'temp', op: '>', threshold: 1 };
    const first = (await postJson(s.url, '/v1/alerts', rule)).body.id;
    const second = (await postJson(s.url, '/v1/alerts', rule)).body.id;
    expect((await request(s.url, 'DELETE', `/v1/alerts/${second}`)).status).toBe(200);
    expect(await s.stop()).toBe(0);
    s = await start(dataDir);
    const third = await postJson(s.url, '/v1/alerts', rule);
    expect(third.status, third.text).toBe(200);
    // Reusing `second` would make a retried `DELETE /v1/alerts/<second>` remove this new rule.
    expect([first, second], `new rule got id ${third.body.id}`).not.toContain(third.body.id);
    expect(third.body.id).toBeGreaterThan(second);
    expect(await s.stop()).toBe(0);
  });
});

describe('graceful stop', () => {
  it('SIGTERM during load exits 0, and every acknowledged event is there after the restart', async () => {
    const dataDir = freshDir('sigterm');
    let s = await start(dataDir);
    const ledger = new Ledger(devicesOnBothShards('term-dev', 20), 'term');
    let dying = false;
    const load = startLoad(s.url, ledger, { loaders: 4, eventsPerSecond: 2000, eventsMax: 10_000, rules: 2, seed: 7 }, () => dying);
    await sleep(700);
    dying = true;
    const code = await s.stop();
    await load.stop();
    expect(code, s.output().slice(-2000)).toBe(0);
    expect(ledger.problems).toEqual([]);
    expect(ledger.acked.size).toBeGreaterThan(0);
    s = await start(dataDir);
    await expectStateMatches(s.url, ledger, 'after SIGTERM under load and a restart', s.output);
    expect(await s.stop()).toBe(0);
  });

  it('a clean stop leaves a snapshot in every shard dir, and the restart loads it (nothing to replay) with the data intact', async () => {
    const dataDir = freshDir('snapshot');
    let s = await start(dataDir);
    const devices = devicesOnBothShards('snap-dev', 10);
    const ledger = new Ledger(devices, 'snap');
    const r = rng(11);
    for (let i = 0; i < 20; i++) await storeBatch(s.url, ledger, newEvents(ledger, r, 1000));
    const rule = await postJson(s.url, '/v1/alerts', { device_id: devices[0], metric: 'temp', op: '>', threshold: 50 });
    ledger.rulesSent.push({ device_id: devices[0]!, metric: 'temp', op: '>', threshold: 50 });
    ledger.rulesAcked.set(rule.body.id, ledger.rulesSent[0]!);
    const reads = ['/v1/search?tag=site:1&limit=500', '/v1/metrics/aggregate?metric=temp&interval=1h', `/v1/metrics/aggregate?metric=hum&device_id=${devices[3]}&interval=10s`];
    const before = await Promise.all(reads.map((p) => get(s.url, p)));
    expect(await s.stop()).toBe(0);

    for (const dir of shardDirs(dataDir)) {
      expect(readdirSync(dir).filter((n) => /^snapshot-\d+\.snap$/.test(n)), `snapshot files in ${dir}: ${readdirSync(dir).join(', ')}`).not.toHaveLength(0);
    }
    const t0 = performance.now();
    s = await start(dataDir);
    const startMs = performance.now() - t0;
    const rec = recoveredLine(s);
    expect(rec.eventsReplayed, 'events replayed from the log after a clean stop (the snapshot should cover them all)').toBe(0);
    expect(rec.seconds).toBeLessThan(2);
    expect(startMs).toBeLessThan(10_000);
    // The snapshot's devices get their id indexes between tasks, with no event asking for them.
    let pending: number | undefined;
    for (const until = Date.now() + 10_000; pending !== 0 && Date.now() < until; await new Promise((r) => setTimeout(r, 50))) {
      const lines = (await (await fetch(`${s.url}/metrics`)).text()).split('\n').filter((l) => l.startsWith('telemetry_id_indexes_pending{'));
      if (lines.length === 2) pending = lines.reduce((n, l) => n + Number(l.split(' ').at(-1)), 0);
    }
    expect(pending).toBe(0);
    await expectStateMatches(s.url, ledger, 'after a clean stop and a restart from the snapshot', s.output);
    const after = await Promise.all(reads.map((p) => get(s.url, p)));
    for (let i = 0; i < reads.length; i++) {
      expect(after[i]!.status, reads[i]).toBe(200);
      expect(after[i]!.body, reads[i]).toEqual(before[i]!.body);
    }
    expect(await s.stop()).toBe(0);
  });
});

describe('data directory', () => {
  it('refuses to start with another SHARDS than the data was laid out for: exit code 2, naming SHARDS and both counts', async () => {
    const dataDir = freshDir('shards');
    let s = await start(dataDir);
    const ledger = new Ledger(devicesOnBothShards('shards-dev', 6), 'sh');
    await storeBatch(s.url, ledger, newEvents(ledger, rng(3), 300));
    expect(await s.stop()).toBe(0);

    const proc = spawn(process.execPath, ['dist/main.js'], {
      env: { ...process.env, PORT: '0', HOST: '127.0.0.1', DATA_DIR: dataDir, SHARDS: '3' },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stderr = '';
    let stdout = '';
    proc.stderr.on('data', (c: Buffer) => (stderr += c.toString()));
    proc.stdout.on('data', (c: Buffer) => (stdout += c.toString()));
    const timer = setTimeout(() => proc.kill('SIGKILL'), 15_000);
    const code = await new Promise<number | null>((resolve) => proc.on('exit', (c) => resolve(c)));
    clearTimeout(timer);
    expect(code, `stdout:\n${stdout}\nstderr:\n${stderr}`).toBe(2);
    const lines = stderr.trim().split('\n');
    expect(lines, stderr).toHaveLength(1);
    const msg = lines[0]!.split(dataDir).join('<DATA_DIR>');
    expect(msg).toMatch(/SHARDS/);
    expect(msg).toMatch(/\b2\b/);
    expect(msg).toMatch(/\b3\b/);

    // The refused start changed nothing: the right count starts and serves the data.
    s = await start(dataDir);
    await expectStateMatches(s.url, ledger, 'after a refused start with SHARDS=3', s.output);
    expect(await s.stop()).toBe(0);
  });
});

describe('damaged logs', () => {
  it('a torn tail (partial frame after a kill) is cut off and reported; every acknowledged event is there', async () => {
    const dataDir = freshDir('torn');
    let s = await start(dataDir);
    const ledger = new Ledger(devicesOnBothShards('torn-dev', 10), 'torn');
    const r = rng(5);
    for (let i = 0; i < 8; i++) await storeBatch(s.url, ledger, newEvents(ledger, r, 50));
    await killHard(s.proc);

    const [dir0, dir1] = shardDirs(dataDir) as [string, string];
    const seg0 = newestNonEmptySegment(dir0);
    const seg1 = newestNonEmptySegment(dir1);
    expect(seg0, readdirSync(dir0).join(', ')).toBeDefined();
    expect(seg1, readdirSync(dir1).join(', ')).toBeDefined();
    // shard-0: a frame header claiming 5,000 bytes, followed by only 100; shard-1: 5 stray bytes.
    const header = Buffer.alloc(8);
    header.writeUInt32LE(5000, 0);
    header.writeUInt32LE(0xdeadbeef, 4);
    appendFileSync(seg0!, Buffer.concat([header, Buffer.alloc(100, 0x5a)]));
    appendFileSync(seg1!, Buffer.from([0x13, 0x37, 0xab, 0xcd, 0xef]));

    // Replayed with two helper threads per shard however short the log: a helper that is ready
    // before the shard's thread reaches the end takes its part from there, and sees only records
    // the survey found whole; on a log this short they are mostly still starting, and take none
    // (test/unit/shard/replay.test.ts has a helper thread read a torn log).
    const threeThreads = { REPLAY_THREADS: '3', REPLAY_THREADS_MIN_LOG_BYTES: '0' };
    s = await start(dataDir, threeThreads);
    expect(s.output()).toMatch(/torn/);
    expect(s.output().match(/"replayThreads":[123]\b/g)?.length).toBe(2);
    expect(recoveredLine(s).tornRecords).toBe(2);
    expect(recoveredLine(s).corruptSegments).toBe(0);
    await expectStateMatches(s.url, ledger, 'after a torn tail', s.output);

    // It keeps working past the cut, and what it takes now survives another kill.
    await storeBatch(s.url, ledger, newEvents(ledger, r, 200));
    await killHard(s.proc);
    s = await start(dataDir, threeThreads);
    expect(recoveredLine(s).tornRecords).toBe(0);
    await expectStateMatches(s.url, ledger, 'after writes past a torn tail and another kill', s.output);
    expect(await s.stop()).toBe(0);
  });

  it('a flipped byte inside a segment: it starts, says "damaged", keeps a .corrupt copy, and serves the events before the damage', async () => {
    const dataDir = freshDir('corrupt');
    let s = await start(dataDir);
    const device = 'corrupt-dev';
    const ledger = new Ledger([device], 'cor');
    const r = rng(9);
    // Ten batches, one at a time, so each is its own log record (frame).
    const batches: SentEvent[][] = [];
    for (let i = 0; i < 10; i++) {
      const b = newEvents(ledger, r, 20, device);
      await storeBatch(s.url, ledger, b);
      batches.push(b);
    }
    await killHard(s.proc);

    const dir = join(dataDir, `shard-${shardOf(device, 2)}`);
    const seg = newestNonEmptySegment(dir)!;
    expect(seg).toBeDefined();
    const buf = readFileSync(seg);
    const frames = framesOf(buf);
    expect(frames, 'one frame per sequential batch').toHaveLength(10);
    const [at, n] = frames[5]!;
    const flipAt = at + 8 + (n >> 1); // the middle of the sixth record's payload
    buf[flipAt] = buf[flipAt]! ^ 0xff;
    writeFileSync(seg, buf);

    s = await start(dataDir);
    const damaged = s.output().split('\n').filter((l) => /damaged/.test(l));
    expect(damaged, s.output()).not.toHaveLength(0);
    expect(recoveredLine(s).corruptSegments).toBe(1);
    expect(existsSync(`${seg}.corrupt`), `${seg}.corrupt; ${dir} holds ${readdirSync(dir).join(', ')}`).toBe(true);
    expect(readFileSync(`${seg}.corrupt`).equals(buf), 'the .corrupt copy is the damaged segment as found').toBe(true);

    const served = await get(s.url, `/v1/devices/${device}/events?limit=10000`);
    expect(served.status).toBe(200);
    const ids = served.body.map((e: any) => e.event_id) as string[];
    expect(new Set(ids).size, 'no event twice').toBe(ids.length);
    for (const e of batches.slice(0, 5).flat()) expect(ids, `event ${e.event_id} from before the damage`).toContain(e.event_id);
    for (const id of ids) expect(ledger.sent.has(key(device, id)), `${id} was sent`).toBe(true);

    // It takes writes again, and those and the events before the damage survive a clean restart.
    const later = newEvents(ledger, r, 30, device);
    await storeBatch(s.url, ledger, later);
    expect(await s.stop()).toBe(0);
    s = await start(dataDir);
    const again = await get(s.url, `/v1/devices/${device}/events?limit=10000`);
    const ids2 = again.body.map((e: any) => e.event_id) as string[];
    expect(new Set(ids2).size).toBe(ids2.length);
    for (const e of [...batches.slice(0, 5).flat(), ...later]) expect(ids2, `event ${e.event_id}`).toContain(e.event_id);
    expect(await s.stop()).toBe(0);
  });
});

describe('FSYNC modes', () => {
  it.each(['interval', 'never'])('FSYNC=%s serves, survives a clean restart, and keeps acknowledged events through SIGKILL', async (mode) => {
    const dataDir = freshDir(`fsync-${mode}`);
    let s = await start(dataDir, { FSYNC: mode });
    const ledger = new Ledger(devicesOnBothShards(`fs-${mode}-dev`, 12), `fs${mode}`);
    const r = rng(mode.length);
    for (let i = 0; i < 5; i++) await storeBatch(s.url, ledger, newEvents(ledger, r, 200));
    expect(await s.stop()).toBe(0);
    s = await start(dataDir, { FSYNC: mode });
    await expectStateMatches(s.url, ledger, `FSYNC=${mode} after a clean restart`, s.output);

    // kill -9 of the process (not of the machine): what was answered was written to the OS.
    let dying = false;
    const load = startLoad(s.url, ledger, { loaders: 3, eventsPerSecond: 1500, eventsMax: 3000, rules: 1, seed: 17 }, () => dying);
    await sleep(600);
    dying = true;
    await killHard(s.proc);
    await load.stop();
    expect(ledger.problems).toEqual([]);
    s = await start(dataDir, { FSYNC: mode });
    await expectStateMatches(s.url, ledger, `FSYNC=${mode} after SIGKILL`, s.output);
    expect(await s.stop()).toBe(0);
  });
});

describe('readiness', () => {
  it('/readyz and /healthz answer 200 once started', async () => {
    const s = await start(freshDir('ready'));
    const ready = await get(s.url, '/readyz');
    expect(ready.status, ready.text).toBe(200);
    expect((await get(s.url, '/healthz')).status).toBe(200);
    expect(await s.stop()).toBe(0);
  });
});
