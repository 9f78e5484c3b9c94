// Recovery speed: writes a shard log of N events directly (the same records the server writes),
// then times the real server from start to ready, replaying the log; then stops it cleanly (which
// snapshots) and times a start from the snapshot. One JSON line per size.
import { rmSync } from 'node:fs';
import { DEVICES, startServer, tempDir, writeLog } from './lib.mjs';

const SHARDS = Number(process.env.RECOVERY_SHARDS ?? 1);
const SIZES = (process.env.RECOVERY_EVENTS ?? '1000000,10000000').split(',').map(Number);
for (const events of SIZES) {
  const dataDir = tempDir('bench-recovery-');
  const logBytes = writeLog(dataDir, events, SHARDS);
  const env = { DATA_DIR: dataDir, SHARDS: String(SHARDS), SNAPSHOT_INTERVAL_MS: '0', SNAPSHOT_LOG_BYTES: String(2 ** 40), RING_CAPACITY: String(Math.ceil(events / DEVICES)) };
  const fromLog = await startServer(env);
  const recovered = JSON.parse(fromLog.output().split('\n').find((l) => l.includes('"msg":"recovered"')));
  const stopStart = performance.now();
  await fromLog.stop();
  const stopSeconds = (performance.now() - stopStart) / 1000;
  const fromSnapshot = await startServer(env);
  const recovered2 = JSON.parse(fromSnapshot.output().split('\n').find((l) => l.includes('"msg":"recovered"')));
  await fromSnapshot.stop();
  rmSync(dataDir, { recursive: true, force: true });
  console.log(
    JSON.stringify({
      scenario: 'recovery',
      events,
      logBytes,
      logReplay: { readySeconds: Number(fromLog.readySeconds.toFixed(2)), replaySeconds: recovered.seconds, eventsPerSec: Math.round(events / recovered.seconds) },
      cleanStopWithSnapshotSeconds: Number(stopSeconds.toFixed(2)),
      fromSnapshot: { readySeconds: Number(fromSnapshot.readySeconds.toFixed(2)), recoverSeconds: recovered2.seconds },
    }),
  );
}
