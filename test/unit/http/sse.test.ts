// The alert stream's replay buffer and frames, against a fake uWS response.
import { afterEach, describe, expect, it } from 'vitest';
import type { FiredAlert } from '../../../src/engine/alerts.js';
import { AlertStream } from '../../../src/http/sse.js';
import type { HttpResponse } from '../../../src/http/uws.js';

function fakeResponse() {
  const written: string[] = [];
  const res = {
    written,
    cork(fn: () => void) {
      fn();
      return res;
    },
    writeStatus: () => res,
    writeHeader: () => res,
    write(chunk: Buffer | string) {
      written.push(String(chunk));
      return true;
    },
    onWritable: () => res,
    end: () => res,
    close: () => res,
  };
  return res;
}

const alert = (i: number, device = 'd'): FiredAlert => ({
  device_id: device,
  event_id: `e${i}`,
  time: 1_736_935_200_000 + i,
  metrics: [['temp', 40 + i]],
  alert_id: 1,
  metric: 'temp',
  op: '>',
  threshold: 32,
  value: 40 + i,
});

const ids = (text: string) => [...text.matchAll(/^id: (\d+)$/gm)].map((m) => Number(m[1]));
const events = (text: string) => [...text.matchAll(/^data: (.*)$/gm)].map((m) => (JSON.parse(m[1]!) as { event_id: string }).event_id);

let stream: AlertStream | undefined;
afterEach(() => stream?.close());

describe('AlertStream', () => {
  it('frames each alert as id: and data: lines with no event: line, after a retry: hint', () => {
    stream = new AlertStream({ replayMax: 10, replayBytesMax: 1 << 20, clientBufferBytesMax: 1 << 20, heartbeatMs: 60_000, retryMs: 1500 });
    const res = fakeResponse();
    stream.subscribe(res as unknown as HttpResponse, undefined, '', () => {});
    stream.publish([alert(1)]);
    const text = res.written.join('');
    expect(text.startsWith('retry: 1500\n\n')).toBe(true);
    expect(text).not.toMatch(/^event:/m);
    expect(events(text)).toEqual(['e1']);
    expect(JSON.parse(/^data: (.*)$/m.exec(text)![1]!)).toEqual({
      device_id: 'd',
      metrics: { temp: 41 },
      time: '2025-01-15T10:00:00.001Z',
      event_id: 'e1',
      alert_id: 1,
      metric: 'temp',
      op: '>',
      threshold: 32,
      value: 41,
    });
  });

  it('replays what came after Last-Event-ID, for the subscribed device only', () => {
    stream = new AlertStream({ replayMax: 100, replayBytesMax: 1 << 20, clientBufferBytesMax: 1 << 20, heartbeatMs: 60_000, retryMs: 1000 });
    const first = fakeResponse();
    stream.subscribe(first as unknown as HttpResponse, undefined, '', () => {});
    stream.publish([alert(1, 'a'), alert(2, 'b'), alert(3, 'a'), alert(4, 'a')]);
    const seen = ids(first.written.join(''));
    const again = fakeResponse();
    stream.subscribe(again as unknown as HttpResponse, 'a', String(seen[0]), () => {});
    expect(events(again.written.join(''))).toEqual(['e3', 'e4']);
  });

  it('keeps at most replayMax alerts and at most replayBytesMax bytes, dropping the oldest', () => {
    stream = new AlertStream({ replayMax: 5, replayBytesMax: 1 << 20, clientBufferBytesMax: 1 << 20, heartbeatMs: 60_000, retryMs: 1000 });
    stream.publish(Array.from({ length: 12 }, (_, i) => alert(i)));
    const byCount = fakeResponse();
    stream.subscribe(byCount as unknown as HttpResponse, undefined, '0', () => {});
    expect(events(byCount.written.join(''))).toEqual(['e7', 'e8', 'e9', 'e10', 'e11']);
    stream.close();

    const frameBytes = Buffer.byteLength(`id: 1234567890123456\ndata: ${JSON.stringify({})}\n\n`) + 180; // about one frame
    stream = new AlertStream({ replayMax: 1000, replayBytesMax: frameBytes * 3, clientBufferBytesMax: 1 << 20, heartbeatMs: 60_000, retryMs: 1000 });
    stream.publish(Array.from({ length: 2000 }, (_, i) => alert(i)));
    const byBytes = fakeResponse();
    stream.subscribe(byBytes as unknown as HttpResponse, undefined, '0', () => {});
    const replayed = events(byBytes.written.join(''));
    expect(replayed.length).toBeGreaterThanOrEqual(1);
    expect(replayed.length).toBeLessThanOrEqual(3);
    expect(replayed[replayed.length - 1]).toBe('e1999');
  });
});
