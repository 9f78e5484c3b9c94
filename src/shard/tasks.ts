// The tasks the front sends a shard, as one zod schema whose inferred type is the Task union.
// A module of its own so that the shard thread, which only needs the type, never loads zod: zod
// took about 100 ms of a shard thread's 150 ms start, which every recovery waits for.
import { z } from 'zod';

/** Epoch ms, or ±Infinity for an unbounded range end. */
const time = z.custom<number>((v) => typeof v === 'number' && !Number.isNaN(v), 'a time in ms or ±Infinity');

const aggregateTask = {
  metric: z.string(),
  deviceId: z.string().optional(),
  fromMs: time,
  toMs: time,
  intervalMs: z.number().positive(),
  maxBuckets: z.number().int(),
};
const searchTask = { tags: z.array(z.string()), fromMs: time, toMs: time, limit: z.number().int() };

export const TaskSchema = z.discriminatedUnion('op', [
  z.object({ op: z.literal('ingest'), batch: z.instanceof(ArrayBuffer) }),
  // A batch the front wrote into the shard's slab (shard/batch-slab.ts): its offset and length.
  z.object({ op: z.literal('ingestShared'), at: z.number().int().nonnegative(), bytes: z.number().int().positive() }),
  z.object({ op: z.literal('recent'), deviceId: z.string(), fromMs: time, toMs: time, limit: z.number().int() }),
  z.object({ op: z.literal('aggregate'), ...aggregateTask }),
  z.object({ op: z.literal('search'), ...searchTask }),
  // The same two as the answer's JSON, made on the shard thread: when one shard holds the whole
  // answer there is nothing to merge, and the front only sends it on.
  z.object({ op: z.literal('aggregateJson'), ...aggregateTask }),
  z.object({ op: z.literal('searchJson'), ...searchTask }),
  z.object({
    op: z.literal('addRule'),
    rule: z.object({
      id: z.number().int(),
      device_id: z.string(),
      metric: z.string(),
      op: z.enum(['>', '<', '>=', '<=', '==', '!=']),
      threshold: z.number(),
      callback_url: z.string().optional(),
    }),
  }),
  z.object({ op: z.literal('removeRule'), id: z.number().int() }),
  z.object({ op: z.literal('listRules') }),
  z.object({ op: z.literal('stats') }),
  z.object({ op: z.literal('open') }),
  z.object({ op: z.literal('close') }),
]);
export type Task = z.infer<typeof TaskSchema>;
export type TaskOf<K extends Task['op']> = Extract<Task, { op: K }>;
