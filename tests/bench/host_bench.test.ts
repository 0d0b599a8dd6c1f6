// `sparrow bench` runs end to end on a tiny sweep and reports what it measured (no timing asserted).

import { sweep } from '../../host/bench/host_bench';
import { benchMarkdown } from '../../host/bench/report_md';

test('a tiny sweep measures every firmware variant and reports MACs, sizes and percentiles', () => {
  const r = sweep({ sparsities: [0, 0.5], dModel: 8, dState: 8, layers: 1, steps: 200, warmup: 20 });
  expect(r.rows.map((x) => `${x.engine} ${x.format} ${x.sparsity}`)).toEqual(['f32 dense 0', 'i16 auto 0', 'i16 dense 0', 'f32 csr16 0.5', 'i16 auto 0.5', 'i16 csr16 0.5']);
  // MACs/step: one per stored weight + per layer 2H + 4P (H = P = 8, d_in = d_out = 8, no gate).
  const dense = 8 * 8 + 4 * 8 * 8 + 8 * 8 + 2 * 8 + 4 * 8;
  expect(r.rows[0].macsPerStep).toBe(dense);
  for (const x of r.rows) {
    expect(x.step.samples).toBe(200);
    expect(x.step.p50Us).toBeGreaterThan(0);
    expect(x.step.p99Us).toBeGreaterThanOrEqual(x.step.p50Us);
  }
  const md = benchMarkdown(r);
  expect(md).toContain('ideal 2.0×');
  expect(md).toContain(r.machine);
});
