// The baseline for ingest ratios: a bare uWebSockets.js server (the same native build the service
// uses) that reads a POST body to the end and answers {"status":"ok"}, doing nothing else. It serves
// both ingest paths, so single events and batches each have a baseline sent the very same bodies.
// Usage: node bench/baseline-server.mjs  -> prints {"port":N} once listening.
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';

const require = createRequire(import.meta.url);
const dir = dirname(require.resolve('uWebSockets.js/package.json'));
const uws = require(join(dir, 'binaries', `uws_${process.platform}_${process.arch}_${process.versions.modules}.node`));

const readAndAnswer = (res) => {
  let aborted = false;
  res.onAborted(() => (aborted = true));
  const chunks = [];
  res.onData((chunk, isLast) => {
    chunks.push(Buffer.from(chunk.slice(0)));
    if (isLast && !aborted) res.cork(() => res.writeHeader('Content-Type', 'application/json').end('{"status":"ok"}'));
  });
};

uws
  .App()
  .post('/v1/events', readAndAnswer)
  .post('/v1/events/batch', readAndAnswer)
  .listen('127.0.0.1', 0, (token) => {
    if (!token) process.exit(1);
    process.stdout.write(JSON.stringify({ port: uws.us_socket_local_port(token) }) + '\n');
  });
