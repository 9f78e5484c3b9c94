// Structured JSON logs (pino), one line per happening, to stdout. `npm run dev` pipes them through
// pino-pretty for people reading a terminal. The same small Log signature is handed to every
// module that logs, so none of them depends on pino.
import pino from 'pino';

export type LogLevel = 'info' | 'error';
export type Log = (level: LogLevel, msg: string, fields?: Record<string, unknown>) => void;

export function createLog(level: string, base: Record<string, unknown> = {}): Log {
  const logger = pino({
    level,
    base: { pid: process.pid, ...base },
    timestamp: pino.stdTimeFunctions.isoTime,
    formatters: { level: (label) => ({ level: label }) },
  },
  // Synchronous: lines are few (never per event), and none may be lost when the process exits or a
  // shard thread is ended right after writing one.
  pino.destination({ dest: 1, sync: true }),
  );
  return (lvl, msg, fields = {}) => logger[lvl](fields, msg);
}
