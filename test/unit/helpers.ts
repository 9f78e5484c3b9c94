// Shared helpers for the unit tests (not a test file itself).

export { rng } from '../support/random.js';

/** Integer in [lo, hi]. */
export const randInt = (r: () => number, lo: number, hi: number): number => lo + Math.floor(r() * (hi - lo + 1));

export const T0 = Date.UTC(2025, 0, 15, 10, 0, 0);
export const MIN = 60_000;
export const HOUR = 3_600_000;
export const DAY = 86_400_000;
