// Alert rules of the devices a shard owns, and their evaluation against each stored event.
// A rule fires once per stored (not duplicate) event that carries its metric and satisfies it.

export const ALERT_OPS = ['>', '<', '>=', '<=', '==', '!='] as const;
export type AlertOp = (typeof ALERT_OPS)[number];

export interface AlertRule {
  id: number;
  device_id: string;
  metric: string;
  op: AlertOp;
  threshold: number;
  callback_url?: string;
}

/** One rule satisfied by one event; the front adds the stream id and fans it out. */
export interface FiredAlert {
  device_id: string;
  event_id: string;
  time: number;
  metrics: [string, number][];
  alert_id: number;
  metric: string;
  op: AlertOp;
  threshold: number;
  value: number;
  callback_url?: string;
}

export function satisfies(op: AlertOp, value: number, threshold: number): boolean {
  switch (op) {
    case '>':
      return value > threshold;
    case '<':
      return value < threshold;
    case '>=':
      return value >= threshold;
    case '<=':
      return value <= threshold;
    case '==':
      return value === threshold;
    case '!=':
      return value !== threshold;
  }
}

export class AlertRules {
  private readonly byDevice = new Map<string, AlertRule[]>();
  private readonly byId = new Map<number, AlertRule>();
  /** The highest id ever added, removed ones included: an id is never handed out twice. */
  idMax = 0;

  get size(): number {
    return this.byId.size;
  }

  add(rule: AlertRule): void {
    if (rule.id > this.idMax) this.idMax = rule.id;
    this.remove(rule.id);
    this.byId.set(rule.id, rule);
    const list = this.byDevice.get(rule.device_id);
    if (list === undefined) this.byDevice.set(rule.device_id, [rule]);
    else list.push(rule);
  }

  remove(id: number): boolean {
    const rule = this.byId.get(id);
    if (rule === undefined) return false;
    this.byId.delete(id);
    const list = this.byDevice.get(rule.device_id)!;
    const rest = list.filter((r) => r.id !== id);
    if (rest.length === 0) this.byDevice.delete(rule.device_id);
    else this.byDevice.set(rule.device_id, rest);
    return true;
  }

  list(): AlertRule[] {
    return [...this.byId.values()].sort((a, b) => a.id - b.id);
  }

  forDevice(deviceId: string): AlertRule[] | undefined {
    return this.byDevice.get(deviceId);
  }
}
