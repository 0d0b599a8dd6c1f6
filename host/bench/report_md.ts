// ============================================================================
// The benchmark sweep as a Markdown section for docs/benchmarks.md: measured
// latencies, speedups against each engine's own dense kernel, the ideal 1/(1−s).
// ============================================================================

import { formatTable } from '../report/table';
import { BenchReport } from './host_bench';

export function benchMarkdown(r: BenchReport): string {
  const dense = (engine: string) => r.rows.find((x) => x.engine === engine && x.sparsity === 0);
  const rows = r.rows.map((x) => {
    const d = dense(x.engine);
    const speedup = d && x.sparsity > 0 ? (d.step.p50Us - r.callOverheadP50Us) / (x.step.p50Us - r.callOverheadP50Us) : 1;
    const ideal = 1 / (1 - x.sparsity);
    return [
      `${x.engine === 'f32' ? 'f32' : 'int w8a16'} ${x.format}`, `${(x.sparsity * 100).toFixed(0)}%`, x.macsPerStep, `${(x.wasmBytes / 1024).toFixed(1)} KiB`,
      x.step.p50Us.toFixed(2), x.step.p90Us.toFixed(2), x.step.p99Us.toFixed(2), x.nsPerMac.toFixed(2),
      x.sparsity > 0 ? `${speedup.toFixed(2)}× (ideal ${ideal.toFixed(1)}×, ${((speedup / ideal) * 100).toFixed(0)}%)` : '—',
    ];
  });
  return [
    `### Host step latency — ${r.date}`,
    '',
    `Measured with \`npm run bench\` on ${r.machine}, Node ${r.node}: ${r.model}. Each step timed alone over ${r.steps.toLocaleString('en-US')} steps after warm-up, fresh random input every step; call overhead (an export returning a constant) p50 ${r.callOverheadP50Us.toFixed(3)} µs, subtracted for ns/MAC and speedups. Speedup is against the same engine's dense kernel (sparsity 0).`,
    '',
    '```',
    formatTable(['firmware', 'sparsity', 'MACs/step', 'wasm', 'p50 µs', 'p90 µs', 'p99 µs', 'ns/MAC', 'speedup vs dense'], rows),
    '```',
    '',
  ].join('\n');
}
