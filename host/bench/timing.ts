// ============================================================================
// Latency statistics. Samples are per-step wall-clock times in microseconds
// measured with process.hrtime (≈ 30–100 ns of timer overhead per sample).
// ============================================================================

export interface LatencyStats {
  samples: number;
  p50Us: number;
  p90Us: number;
  p99Us: number;
  meanUs: number;
}

/** Nearest-rank percentile of sorted data, p in [0, 100]. */
export function percentile(sorted: Float64Array, p: number): number {
  if (sorted.length === 0) return NaN;
  const rank = Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1));
  return sorted[rank];
}

export function latencyStats(samplesUs: Float64Array): LatencyStats {
  const sorted = Float64Array.from(samplesUs).sort();
  let sum = 0;
  for (let i = 0; i < sorted.length; i++) sum += sorted[i];
  return { samples: sorted.length, p50Us: percentile(sorted, 50), p90Us: percentile(sorted, 90), p99Us: percentile(sorted, 99), meanUs: sum / sorted.length };
}

/** Time `fn` once per call, `count` times, after `warmup` untimed calls. */
export function timeEach(fn: (i: number) => void, count: number, warmup: number): Float64Array {
  for (let i = 0; i < warmup; i++) fn(i);
  const samples = new Float64Array(count);
  for (let i = 0; i < count; i++) {
    const t0 = process.hrtime.bigint();
    fn(i);
    samples[i] = Number(process.hrtime.bigint() - t0) / 1000;
  }
  return samples;
}
