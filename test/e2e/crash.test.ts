// Crash loop: an acknowledged write survives kill -9 at any moment, exactly once.
//
// Each round runs concurrent loaders (batches, single events, repeats, alert rules) against the real
// server with FSYNC=always, SIGKILLs it at a random moment, restarts it on the same data directory
// and checks the whole state against the ledger of what was sent and acknowledged. Rounds share the
// data directory, so events, snapshots-to-be and log segments accumulate across kills.
//
// CRASH_ROUNDS sets the number of rounds (default 3; `npm run test:crash` runs 30). CRASH_SEED
// replays a run (each round prints its seed on failure).
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { startServer, type RunningServer } from './server.js';
import { get, postJson, shardOf, sleep } from './helpers.js';
import { killHard, Ledger, resendAcked, rng, startLoad, verifyState } from './crash-loop.js';

const ROUNDS = Math.max(1, Number(process.env.CRASH_ROUNDS ?? 3) || 3);
const SEED = Number(process.env.CRASH_SEED ?? Date.now() % 1_000_000);
// Small snapshot and segment thresholds, so background snapshots and segment rotation happen (and get killed) mid-load.
const ENV = { SHARDS: '2', FSYNC: 'always', SNAPSHOT_LOG_BYTES: '65536', SEGMENT_BYTES_MAX: '65536' };
const DEVICES = Array.from({ length: 50 }, (_, i) => `crash-dev-${i}`);
/** Per loader; 4 loaders for at most 1.5 s keeps a 30-round run under ~2,500 events per device. */
const EVENTS_PER_SECOND = 600;
const EVENTS_PER_ROUND_MAX = 3_000;
/** Kill attempts of the duplicate-answer race (each catches it about half the time when it exists). */
const DUP_ATTEMPTS = ROUNDS >= 10 ? 10 : 3;

const dataDir = mkdtempSync(join(tmpdir(), 'telemetry-e2e-crash-'));
let server: RunningServer | undefined;

afterAll(async () => {
  if (server && server.proc.exitCode === null && server.proc.signalCode === null) await server.stop();
  rmSync(dataDir, { recursive: true, force: true });
});

describe(`crash loop (${ROUNDS} rounds, seed ${SEED})`, () => {
  it(
    'every acknowledged event and rule survives SIGKILL at a random moment, exactly once, across rounds',
    async () => {
      const ledger = new Ledger(DEVICES, `s${SEED}`);
      const r = rng(SEED);
      server = await startServer(ENV, { dataDir });
      for (let round = 1; round <= ROUNDS; round++) {
        const where = `round ${round} of ${ROUNDS} (CRASH_SEED=${SEED})`;
        const roundStarted = performance.now();
        let dying = false;
        const load = startLoad(
          server.url,
          ledger,
          { loaders: 4, eventsPerSecond: EVENTS_PER_SECOND, eventsMax: EVENTS_PER_ROUND_MAX, rules: 2, seed: SEED * 1000 + round },
          () => dying,
        );
        await sleep(300 + Math.floor(r() * 1200));
        dying = true;
        await killHard(server.proc);
        await load.stop();
        expect(ledger.problems, `${where}: answers while the server was up`).toEqual([]);

        server = await startServer(ENV, { dataDir });
        const state = await verifyState(server.url, ledger);
        expect(state.problems, `${where}: state after restart\n${server.output().slice(-3000)}`).toEqual([]);
        expect(ledger.acked.size, `${where}: the load acknowledged something`).toBeGreaterThan(0);

        const resent = await resendAcked(server.url, ledger, r, 100);
        expect(resent, `${where}: acknowledged events sent again after restart`).toEqual([]);
        const again = await verifyState(server.url, ledger);
        console.log(
          `${where}: ${ledger.sent.size} sent, ${ledger.acked.size} acknowledged, ${state.present.size} present, ` +
            `${ledger.rulesAcked.size} rules acknowledged, ${ledger.failures} requests cut by kills; round took ${Math.round(performance.now() - roundStarted)} ms`,
        );
        expect(again.counts, `${where}: resending duplicates changed the aggregates`).toEqual(state.counts);
        expect(again.present.size, `${where}: resending duplicates changed the events`).toBe(state.present.size);
      }
      // A clean stop at the end, and the same state once more after it.
      expect(await server.stop()).toBe(0);
      server = await startServer(ENV, { dataDir });
      const last = await verifyState(server.url, ledger);
      expect(last.problems, `after the final clean restart (CRASH_SEED=${SEED})`).toEqual([]);
      expect(await server.stop()).toBe(0);
    },
    30_000 + ROUNDS * 10_000,
  );

  it(
    'a `duplicate` answer is as durable as `stored`: SIGKILL right after a repeat was answered duplicate while its original batch was in flight',
    async () => {
      // The original goes out in a big batch, followed by more big batches for the same shard (so the
      // shard has work queued before it writes its log); a client repeats the batch's first event as a
      // single POST until it is answered `duplicate`, and the process is killed at that answer. The
      // client was told the event is stored: it must be there after the restart.
      const dir = mkdtempSync(join(tmpdir(), 'telemetry-e2e-dupack-'));
      const devices = Array.from({ length: 400 }, (_, i) => `dupack-dev-${i}`).filter((d) => shardOf(d, 2) === 0).slice(0, 8);
      const batch = (prefix: string, n: number) =>
        Array.from({ length: n }, (_, i) => ({ event_id: `${prefix}-${i}`, device_id: devices[i % devices.length]!, timeStamp: Date.UTC(2025, 2, 1) + i, metrics: { temp: i }, tags: ['dupack'] }));
      const lost: string[] = [];
      let s = await startServer(ENV, { dataDir: dir });
      try {
        for (let attempt = 0; attempt < DUP_ATTEMPTS && lost.length === 0; attempt++) {
          const original = batch(`a${attempt}-x`, 3000);
          // The watched event has a device of its own (on the same shard), so its events fit one query.
          let k = 0;
          while (shardOf(`dupack-watch-${attempt}-${k}`, 2) !== 0) k++;
          const first = { ...original[0]!, device_id: `dupack-watch-${attempt}-${k}` };
          original[0] = first;
          let originalAnswer = 'no answer';
          const inFlight = [
            postJson(s.url, '/v1/events/batch', original).then(
              (r) => (originalAnswer = `${r.status} ${r.text.slice(0, 60)}...`),
              () => {},
            ),
            ...Array.from({ length: 6 }, (_, k) => postJson(s.url, '/v1/events/batch', batch(`a${attempt}-z${k}`, 3000)).catch(() => {})),
          ];
          let duplicateAnswered = false;
          const repeat = async () => {
            for (let i = 0; i < 300 && !duplicateAnswered; i++) {
              const res = await postJson(s.url, '/v1/events', first).catch(() => undefined);
              if (res?.status === 200 && res.body?.status === 'duplicate' && !duplicateAnswered) {
                duplicateAnswered = true;
                await killHard(s.proc);
              }
            }
          };
          await Promise.all(Array.from({ length: 8 }, repeat));
          if (!duplicateAnswered) await killHard(s.proc);
          await Promise.all(inFlight);
          s = await startServer(ENV, { dataDir: dir });
          if (!duplicateAnswered) continue;
          const res = await get(s.url, `/v1/devices/${first.device_id}/events?limit=10000`);
          expect(res.status).toBe(200);
          expect(res.body.length).toBeLessThanOrEqual(1);
          if (!res.body.some((e: any) => e.event_id === first.event_id)) {
            lost.push(
              `attempt ${attempt}: ${first.device_id}/${first.event_id} was answered {"status":"duplicate"} (its batch: ${originalAnswer}), ` +
                `then kill -9, and it is gone after the restart`,
            );
          }
        }
      } finally {
        if (s.proc.exitCode === null && s.proc.signalCode === null) await killHard(s.proc);
        rmSync(dir, { recursive: true, force: true });
      }
      expect(lost).toEqual([]);
    },
    20_000 + DUP_ATTEMPTS * 10_000,
  );
});
