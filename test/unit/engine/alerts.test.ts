import { describe, expect, it } from 'vitest';
import { ALERT_OPS, AlertRules, satisfies, type AlertRule } from '../../../src/engine/alerts.js';

const rule = (id: number, device_id: string, metric = 'cpu', op: AlertRule['op'] = '>', threshold = 1): AlertRule => ({
  id,
  device_id,
  metric,
  op,
  threshold,
});

describe('satisfies', () => {
  it('knows the six operators of the contract', () => {
    expect([...ALERT_OPS]).toEqual(['>', '<', '>=', '<=', '==', '!=']);
  });

  it.each([
    ['>', 2, 1, true],
    ['>', 1, 1, false],
    ['<', 0, 1, true],
    ['<', 1, 1, false],
    ['>=', 1, 1, true],
    ['>=', 0.999, 1, false],
    ['<=', 1, 1, true],
    ['<=', 1.001, 1, false],
    ['==', 1, 1, true],
    ['==', 1.0000001, 1, false],
    ['!=', 2, 1, true],
    ['!=', 1, 1, false],
    ['==', -0, 0, true],
  ] as const)('%s: value %d against threshold %d is %s', (op, value, threshold, expected) => {
    expect(satisfies(op, value, threshold)).toBe(expected);
  });
});

describe('AlertRules', () => {
  it('lists rules in id order and finds them by device', () => {
    const rules = new AlertRules();
    rules.add(rule(3, 'd1'));
    rules.add(rule(1, 'd2'));
    rules.add(rule(2, 'd1', 'temp'));
    expect(rules.size).toBe(3);
    expect(rules.list().map((r) => r.id)).toEqual([1, 2, 3]);
    expect(rules.forDevice('d1')!.map((r) => r.id).sort()).toEqual([2, 3]);
    expect(rules.forDevice('d2')!.map((r) => r.id)).toEqual([1]);
    expect(rules.forDevice('nope')).toBeUndefined();
  });

  it('remove forgets a rule and answers whether it existed', () => {
    const rules = new AlertRules();
    rules.add(rule(1, 'd1'));
    rules.add(rule(2, 'd1'));
    expect(rules.remove(1)).toBe(true);
    expect(rules.remove(1)).toBe(false);
    expect(rules.forDevice('d1')!.map((r) => r.id)).toEqual([2]);
    expect(rules.remove(2)).toBe(true);
    expect(rules.forDevice('d1')).toBeUndefined();
    expect(rules.size).toBe(0);
    expect(rules.remove(99)).toBe(false);
  });

  it('adding a rule with an existing id replaces it, even when it moves to another device', () => {
    const rules = new AlertRules();
    rules.add(rule(1, 'd1', 'cpu', '>', 1));
    rules.add(rule(1, 'd2', 'cpu', '<', 5));
    expect(rules.size).toBe(1);
    expect(rules.forDevice('d1')).toBeUndefined();
    expect(rules.forDevice('d2')).toEqual([rule(1, 'd2', 'cpu', '<', 5)]);
    expect(rules.list()).toEqual([rule(1, 'd2', 'cpu', '<', 5)]);
  });

  it('keeps rules whose device or metric is named like an Object.prototype key apart from the prototype', () => {
    const rules = new AlertRules();
    rules.add(rule(1, '__proto__', 'toString'));
    rules.add(rule(2, 'constructor'));
    expect(rules.forDevice('__proto__')!.map((r) => r.id)).toEqual([1]);
    expect(rules.forDevice('constructor')!.map((r) => r.id)).toEqual([2]);
    expect(rules.forDevice('hasOwnProperty')).toBeUndefined();
  });
});
