import { availableParallelism } from 'node:os';
import { describe, expect, it } from 'vitest';
import { ConfigError, flagOf, helpText, loadConfig, replayThreadsOf, settingNames } from '../../src/config.js';

const DAY = 86_400_000;

function configError(f: () => unknown): ConfigError {
  try {
    f();
  } catch (e) {
    expect(e).toBeInstanceOf(ConfigError);
    return e as ConfigError;
  }
  throw new Error('expected a ConfigError');
}

describe('loadConfig', () => {
  it('uses the documented defaults when nothing is set', () => {
    const c = loadConfig({}, []);
    expect(c).toMatchObject({
      PORT: 8000,
      HOST: '0.0.0.0',
      DATA_DIR: './data',
      FSYNC: 'always',
      SHARDS: Math.max(1, availableParallelism() - 1),
      RING_CAPACITY: 100_000,
      RAW_RETENTION_MS: 7 * DAY,
      ROLLUP_RETENTION_MS: 400 * DAY,
      MAX_BODY_BYTES: 1 << 20,
      MAX_BATCH_EVENTS: 10_000,
      MAX_QUERY_LIMIT: 10_000,
      SSE_HEARTBEAT_MS: 15_000,
    });
    expect(Object.keys(c).sort()).toEqual([...settingNames].sort());
  });

  it('reads every setting from the environment, numbers as numbers', () => {
    const c = loadConfig({ PORT: '9001', HOST: '127.0.0.1', DATA_DIR: '/tmp/x', SHARDS: '3', FSYNC: 'never', RING_CAPACITY: '50' }, []);
    expect(c).toMatchObject({ PORT: 9001, HOST: '127.0.0.1', DATA_DIR: '/tmp/x', SHARDS: 3, FSYNC: 'never', RING_CAPACITY: 50 });
  });

  it('treats an empty environment variable as unset', () => {
    expect(loadConfig({ PORT: '', FSYNC: '' }, [])).toMatchObject({ PORT: 8000, FSYNC: 'always' });
  });

  it('ignores environment variables that are not settings', () => {
    expect(() => loadConfig({ PATH: '/bin', NODE_ENV: 'test' }, [])).not.toThrow();
  });

  it('--kebab-case flags win over the environment, as "--flag value" or "--flag=value"', () => {
    const env = { PORT: '9001', RING_CAPACITY: '50', FSYNC: 'never' };
    const c = loadConfig(env, ['--port', '9002', '--ring-capacity=60', '--fsync', 'interval']);
    expect(c).toMatchObject({ PORT: 9002, RING_CAPACITY: 60, FSYNC: 'interval' });
  });

  it('the last of a repeated flag wins', () => {
    expect(loadConfig({}, ['--port=1', '--port=2']).PORT).toBe(2);
  });

  it('is frozen', () => {
    const c = loadConfig({}, []);
    expect(Object.isFrozen(c)).toBe(true);
  });

  it.each([
    [{ PORT: 'abc' }, [], 'PORT'],
    [{ PORT: '70000' }, [], 'PORT'],
    [{ PORT: '80.5' }, [], 'PORT'],
    [{ SHARDS: '0' }, [], 'SHARDS'],
    [{ FSYNC: 'sometimes' }, [], 'FSYNC'],
    [{ RING_CAPACITY: '-1' }, [], 'RING_CAPACITY'],
    [{}, ['--max-batch-events', 'lots'], 'MAX_BATCH_EVENTS'],
    [{ PORT: '9000' }, ['--port=nope'], 'PORT'],
  ] as const)('a bad value (%j %j) throws a ConfigError naming %s and its flag', (env, argv, name) => {
    const e = configError(() => loadConfig(env, [...argv]));
    expect(e.code).toBe('CONFIG_INVALID');
    expect(e.message).toContain(name);
    expect(e.message).toContain(flagOf(name));
    expect(e.message).not.toContain('\n');
  });

  it('a blank value is rejected, not read as 0', () => {
    expect(configError(() => loadConfig({ PORT: '   ' }, [])).message).toContain('PORT');
    expect(configError(() => loadConfig({}, ['--port='])).message).toContain('PORT');
  });

  it('an unknown flag throws a ConfigError naming it (a typo must not leave a default in force)', () => {
    const e = configError(() => loadConfig({}, ['--prot', '9000']));
    expect(e.message).toContain('--prot');
    expect(configError(() => loadConfig({}, ['PORT=9000'])).message).toContain('PORT');
  });

  it('a flag without a value throws a ConfigError', () => {
    expect(configError(() => loadConfig({}, ['--port'])).message).toContain('--port');
  });

  it('refuses minute rollups kept for less time than raw events (aggregates would then disagree)', () => {
    const e = configError(() => loadConfig({ RAW_RETENTION_MS: String(7 * DAY), ROLLUP_RETENTION_MS: String(DAY) }, []));
    expect(e.message).toContain('ROLLUP_RETENTION_MS');
  });
});

describe('flagOf and helpText', () => {
  it('maps SETTING_NAME to --setting-name', () => {
    expect(flagOf('RING_CAPACITY')).toBe('--ring-capacity');
    expect(flagOf('PORT')).toBe('--port');
  });

  it('documents every setting with its flag and default', () => {
    const text = helpText();
    for (const name of settingNames) {
      expect(text).toContain(flagOf(name));
      expect(text).toContain(name);
    }
    expect(text).toContain('[default: 8000]');
  });

  it('replays each shard on the cores the shards leave (REPLAY_THREADS=0), or on REPLAY_THREADS threads', () => {
    const threads = (env: Record<string, string>, cores: number) => replayThreadsOf(loadConfig(env, []), cores);
    expect(threads({ SHARDS: '1' }, 2)).toBe(2);
    expect(threads({ SHARDS: '7' }, 8)).toBe(1);
    expect(threads({ SHARDS: '2' }, 6)).toBe(3);
    expect(threads({ SHARDS: '1' }, 32)).toBe(4);
    expect(threads({ SHARDS: '4', REPLAY_THREADS: '2' }, 2)).toBe(2);
    expect(() => loadConfig({ REPLAY_THREADS: '-1' }, [])).toThrow(ConfigError);
  });
});
