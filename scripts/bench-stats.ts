/** Shared by the benchmarks: median and p90 of a bounded sample, and their one-line form. */

export interface Stats {
  median: number;
  p90: number;
  n: number;
}

export function stats(xs: readonly number[]): Stats {
  const s = [...xs].sort((a, b) => a - b);
  const at = (q: number) => s[Math.min(s.length - 1, Math.floor(q * s.length))] ?? NaN;
  return { median: at(0.5), p90: at(0.9), n: s.length };
}

export function fmt(s: Stats, digits = 1): string {
  return `median ${s.median.toFixed(digits)} ms  p90 ${s.p90.toFixed(digits)} ms  (n=${s.n})`;
}
