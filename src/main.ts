// Process entry: configuration, the app, listening, and shutdown on signals. Nothing else.
import { createApp } from './app.js';
import { ConfigError, helpText, loadConfig } from './config.js';
import { createLog, type Log } from './log.js';

let log: Log = createLog('info');


async function main(): Promise<void> {
  if (process.argv.includes('--help') || process.argv.includes('-h')) {
    process.stdout.write(helpText() + '\n');
    return;
  }
  let config;
  try {
    config = loadConfig();
  } catch (e) {
    if (e instanceof ConfigError) {
      process.stderr.write(`telemetry-engine: ${e.message}\n`);
      process.exit(2);
    }
    throw e;
  }
  log = createLog(config.LOG_LEVEL);
  // The effective configuration, without the secrets.
  const shown = { ...config, API_TOKEN: config.API_TOKEN && '<set>', READ_TOKEN: config.READ_TOKEN && '<set>' };
  log('info', 'starting', { config: shown });
  let app;
  try {
    app = createApp(config, { log });
  } catch (e) {
    if ((e as { code?: unknown }).code === 'DATA_DIR_INVALID') {
      process.stderr.write(`telemetry-engine: ${(e as Error).message}\n`);
      process.exit(2);
    }
    throw e;
  }
  let stopping = false;
  const port = await app.listen();
  log('info', 'listening', { host: config.HOST, port, shards: config.SHARDS });
  app.ready.then(
    () => {
      if (!stopping) log('info', 'ready', { port });
    },
    (e: unknown) => {
      log('error', 'recovery failed', { err: String((e as Error)?.stack ?? e) });
      process.exit(1);
    },
  );

  const stop = (signal: string) => {
    if (stopping) {
      log('info', 'second signal: exiting now', { signal });
      process.exit(1);
    }
    stopping = true;
    log('info', 'stopping', { signal });
    app.close().then(
      () => {
        log('info', 'stopped');
        process.exit(0);
      },
      (e: unknown) => {
        log('error', 'error while stopping', { err: String(e) });
        process.exit(1);
      },
    );
  };
  process.on('SIGTERM', () => stop('SIGTERM'));
  process.on('SIGINT', () => stop('SIGINT'));
}

main().catch((e: unknown) => {
  log('error', 'failed to start', { err: String((e as Error)?.stack ?? e) });
  process.exit(1);
});
