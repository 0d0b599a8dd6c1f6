// ============================================================================
// A bench report three ways: a compact terminal view, Markdown for
// docs/benchmarks.md, and one self-contained HTML file with SVG charts
// (latency vs sparsity against the ideal 1/(1−s), µs and µJ per step per
// board, memory against each board's budget). Every figure says whether it
// was measured (where) or estimated (from what).
// ============================================================================

import { formatBytes, formatTable, Cell } from '../report/table';
import { htmlPage, HtmlSection } from '../report/html';
import { barChart, lineChart, LineSeries } from '../report/svg';
import { BenchReport, BoardRow, HostRow } from './bench';
import { EXECUTION_MODES } from './cost';
import { checkTargets, TargetCheck } from './targets';

const us = (v: number): string => (v >= 1000 ? Math.round(v).toLocaleString('en-US') : v >= 100 ? v.toFixed(0) : v >= 10 ? v.toFixed(1) : v.toFixed(2));
/** Three significant digits, thousands separated (no exponent: 25,100 µJ reads better than 2.51e+4). */
const sig3 = (v: number): string => Number(v.toPrecision(3)).toLocaleString('en-US', { maximumSignificantDigits: 3 });
const pct = (v: number): string => `${(v * 100).toFixed(v < 0.1 ? 1 : 0)}%`;
const kib = (n: number): string => `${(n / 1024).toFixed(1)} KiB`;

function header(r: BenchReport): string[] {
  return [
    `${r.date}, ${r.machine}, Node ${r.node}; ${r.steps.toLocaleString('en-US')} timed steps per firmware after ${r.warmup.toLocaleString('en-US')} warm-up steps, each timed alone, fresh input every step.`,
    'Measured: host latencies (Node, native C, ONNX Runtime) and QEMU instruction counts. Estimated: everything per board (cost model fitted to QEMU counts × the board\'s cycles per instruction × the execution mode\'s factor; energy = time × active current × voltage).',
  ];
}

function hostRows(r: BenchReport): Cell[][] {
  return r.host.map((h) => {
    const dense = r.host.find((x) => x.model === h.model && x.engine === h.engine && x.kernel === 'dense');
    const model = r.models.find((m) => m.label === h.model)!;
    const speed = dense && h.kernel !== 'dense' && h.timing.computeP50Us > 0 ? dense.timing.computeP50Us / h.timing.computeP50Us : undefined;
    const ideal = 1 / (1 - model.sparsity);
    return [
      h.model, `${h.engine} ${h.kernel}`, pct(model.sparsity), model.macsPerStep, formatBytes(h.wasmBytes),
      us(h.timing.step.p50Us), us(h.timing.step.p90Us), us(h.timing.step.p99Us), us(h.timing.computeP50Us), h.nsPerMac.toFixed(2),
      speed === undefined ? '—' : `${speed.toFixed(2)}× (${((speed / ideal) * 100).toFixed(0)}% of ${ideal.toFixed(1)}×)`,
    ];
  });
}
const HOST_HEADER = ['model', 'firmware', 'sparsity', 'MACs/step', 'wasm', 'p50 µs', 'p90 µs', 'p99 µs', 'compute p50 µs', 'ns/MAC', 'speedup vs own dense'];

function peerRows(r: BenchReport): Cell[][] {
  return r.peers.map((p) => {
    const node = r.host.filter((h) => h.model === p.model && h.engine === 'int' && h.kernel !== 'dense').sort((a, b) => a.timing.step.p50Us - b.timing.step.p50Us)[0];
    return [p.model, p.peer === 'native-c' ? `native C ${p.kernel}` : 'ONNX Runtime (f32 dense)', us(p.p50Us), us(p.p90Us), us(p.p99Us), us(p.overheadUs), node ? `${(p.p50Us / node.timing.step.p50Us).toFixed(2)}×` : '—'];
  });
}
const PEER_HEADER = ['model', 'peer', 'p50 µs', 'p90 µs', 'p99 µs', 'per-call overhead µs', 'peer ÷ best sparrow Node'];

function isaRows(r: BenchReport): Cell[][] {
  return r.isa.map((i) => [i.model, `${i.board} (${i.core}, QEMU ${i.machine})`, i.kernel, Math.round(i.measuredInstructions), Math.round(i.estimatedInstructions), `${i.error >= 0 ? '+' : ''}${(i.error * 100).toFixed(1)}%`, formatBytes(i.flashBytes), formatBytes(i.ramBytes)]);
}
const ISA_HEADER = ['model', 'core', 'kernel', 'instructions/step (measured)', 'cost model (estimate)', 'error', 'program flash', 'program RAM'];

function boardCell(b: BoardRow | undefined): string {
  if (!b) return '—';
  if (!b.fits) return `no fit: ${b.problems.join(', ')}`;
  return `${us(b.usPerStep)} µs, ${sig3(b.uJPerStep)} µJ${b.loadPct !== undefined ? `, ${b.loadPct.toFixed(b.loadPct < 1 ? 2 : 0)}% load` : ''}`;
}

function boardDetailRows(r: BenchReport): Cell[][] {
  return r.boards.map((b) => [
    b.model, b.board, b.mode, b.kernel === 'auto' ? `auto (${b.unrolledMatrices}/${b.matrices} in code)` : b.kernel,
    Math.round(b.instructions), us(b.usPerStep), sig3(b.uJPerStep), ...(r.rateHz ? [b.loadPct!.toFixed(2)] : []),
    kib(b.flashBytes), kib(b.ramBytes), b.fits ? 'yes' : `no: ${b.problems.join(', ')}${b.advice ? `; ${b.advice}` : ''}`,
  ]);
}
function boardDetailHeader(r: BenchReport): string[] {
  return ['model', 'board', 'mode', 'kernel', 'instructions/step', 'µs/step', 'µJ/step', ...(r.rateHz ? [`load % at ${r.rateHz} Hz`] : []), 'flash', 'RAM', 'fits'];
}

function targetRows(t: TargetCheck[]): Cell[][] {
  return t.map((x) => [x.met ? '✓ met' : '✗ not met', x.target, x.model, x.value]);
}

// ---------------------------------------------------------------------------
// Terminal
// ---------------------------------------------------------------------------

export function benchText(r: BenchReport): string {
  const out: string[] = [...header(r), '', 'Host step latency, measured (Node):', formatTable(HOST_HEADER, hostRows(r))];
  if (r.peers.length > 0) out.push('', 'Peers, measured on this host:', formatTable(PEER_HEADER, peerRows(r)));
  for (const m of r.models) {
    const boards = [...new Set(r.boards.filter((b) => b.model === m.label).map((b) => b.board))];
    if (boards.length === 0) continue;
    const modes = EXECUTION_MODES.filter((mode) => r.boards.some((b) => b.model === m.label && b.mode === mode));
    out.push('', `Per board, --kernel auto, estimated${r.rateHz ? ` (load at ${r.rateHz} Hz)` : ''}: ${m.label}`);
    out.push(formatTable(['board', ...modes], boards.map((name) => [name, ...modes.map((mode) => boardCell(r.boards.find((b) => b.model === m.label && b.board === name && b.mode === mode && b.kernel === 'auto')))])));
    for (const b of r.boards.filter((x) => x.model === m.label && x.kernel === 'auto' && x.advice)) out.push(`  ${b.board} ${b.mode}: ${b.advice}`);
  }
  if (r.isa.length > 0) out.push('', 'Arm instruction counts of the C target (QEMU -icount), against the cost model:', formatTable(ISA_HEADER, isaRows(r)));
  const t = checkTargets(r);
  if (t.length > 0) out.push('', 'Targets (issue #5):', formatTable(['verdict', 'target', 'model', 'figure'], targetRows(t)));
  if (r.notes.length > 0) out.push('', ...r.notes.map((n) => `note: ${n}`));
  return out.join('\n');
}

// ---------------------------------------------------------------------------
// Markdown (docs/benchmarks.md)
// ---------------------------------------------------------------------------

function mdTable(head: string[], rows: Cell[][]): string {
  const esc = (c: Cell) => String(typeof c === 'number' ? c.toLocaleString('en-US') : c).replace(/\|/g, '\\|');
  return [`| ${head.join(' | ')} |`, `| ${head.map(() => '---').join(' | ')} |`, ...rows.map((row) => `| ${row.map(esc).join(' | ')} |`)].join('\n');
}

export function benchMarkdown(r: BenchReport, command = 'npm run bench'): string {
  const out = [
    `### sparrow bench — ${r.date}`,
    '',
    `Command: \`${command}\`. ${header(r).join(' ')}`,
    '',
    'Models:',
    '',
    ...r.models.map((m) => `- **${m.label}**: ${m.source}; ${pct(m.sparsity)} of matrix weights zero, ${m.matrixNonzeros.toLocaleString('en-US')} nonzeros, ${m.macsPerStep.toLocaleString('en-US')} MACs/step${m.notes.length ? ` (${m.notes.join('; ')})` : ''}`),
    '',
    '#### Host step latency (measured, Node)',
    '',
    mdTable(HOST_HEADER, hostRows(r)),
  ];
  if (r.peers.length > 0) out.push('', '#### Peers (measured, this host)', '', mdTable(PEER_HEADER, peerRows(r)));
  const t = checkTargets(r);
  if (t.length > 0) out.push('', '#### Targets', '', mdTable(['verdict', 'target', 'model', 'figure'], targetRows(t)));
  if (r.isa.length > 0) out.push('', '#### Arm instruction counts (measured, QEMU) against the cost model (estimate)', '', mdTable(ISA_HEADER, isaRows(r)));
  if ((r.emulator ?? []).length > 0) {
    out.push('', `#### Neuromorphic emulator speed (measured, one core; \`sparrow emulate\` on ${r.emulator[0].chip})`, '', mdTable(
      ['model', 'threshold', 'steps', 'synaptic ops/step', 'M synaptic ops/s', 'steps/s'],
      r.emulator.map((e) => [e.model, e.threshold === 0 ? '0 (exact)' : `${e.threshold} (sigma-delta)`, e.steps, Math.round(e.synOpsPerStep), Number((e.synOpsPerSecond / 1e6).toFixed(1)), Math.round(e.stepsPerSecond)]),
    ));
  }
  const auto = r.boards.filter((b) => b.kernel === 'auto');
  if (auto.length > 0) {
    out.push('', '#### Per board, `--kernel auto` (estimates)', '', mdTable(boardDetailHeader(r), boardDetailRows({ ...r, boards: auto })));
  }
  if (r.notes.length > 0) out.push('', ...r.notes.map((n) => `- ${n}`));
  return out.join('\n') + '\n';
}

// ---------------------------------------------------------------------------
// HTML
// ---------------------------------------------------------------------------

function latencyChart(r: BenchReport): string | undefined {
  // Only meaningful across models of one shape at several sparsities.
  const shapes = new Set(r.models.map((m) => JSON.stringify({ ...m.config })));
  if (r.models.length < 2 || shapes.size !== 1) return undefined;
  const sOf = (model: string) => r.models.find((m) => m.label === model)!.sparsity;
  const series: LineSeries[] = [];
  const hostSeries = (engine: HostRow['engine'], kernel: HostRow['kernel'], name: string) => {
    const pts = r.host.filter((h) => h.engine === engine && h.kernel === kernel).map((h) => [sOf(h.model), h.timing.computeP50Us] as [number, number]);
    if (pts.length > 0) series.push({ name, points: pts });
  };
  hostSeries('int', 'csr', 'int CSR (Node)');
  hostSeries('int', 'unrolled', 'int weights in code (Node)');
  hostSeries('f32', 'csr', 'f32 CSR (Node)');
  hostSeries('int', 'dense', 'int dense kernel (Node)');
  for (const k of ['csr', 'unrolled'] as const) {
    const pts = r.peers.filter((p) => p.peer === 'native-c' && p.kernel === k).map((p) => [sOf(p.model), p.p50Us] as [number, number]);
    if (pts.length > 0) series.push({ name: `native C ${k === 'csr' ? 'CSR' : 'in code'}`, points: pts });
  }
  const dense = r.host.filter((h) => h.engine === 'int' && h.kernel === 'dense');
  if (dense.length > 0) {
    const d = dense.reduce((a, h) => a + h.timing.computeP50Us, 0) / dense.length;
    const xs = r.models.map((m) => m.sparsity).sort((a, b) => a - b);
    series.push({ name: 'ideal: dense × (1 − s)', points: xs.map((s) => [s, d * (1 - s)]), dashed: true, color: '#000' });
  }
  return lineChart({ title: 'Step compute time vs sparsity (measured, p50)', xLabel: 'sparsity of the weight matrices', yLabel: 'µs per step (log)', series, logY: true, xFormat: (v) => `${Math.round(v * 100)}%` });
}

function boardCharts(r: BenchReport, model: string): string[] {
  const rows = r.boards.filter((b) => b.model === model && b.kernel === 'auto');
  const boards = [...new Set(rows.map((b) => b.board))];
  const modes = EXECUTION_MODES.filter((m) => rows.some((b) => b.mode === m));
  const get = (board: string, mode: string) => rows.find((b) => b.board === board && b.mode === mode);
  const series = (f: (b: BoardRow) => number | null) => modes.map((mode) => ({ name: mode, values: boards.map((board) => { const b = get(board, mode); return b ? f(b) : null; }) }));
  const charts = [
    barChart({ title: `${model}: µs per step by board and mode (estimate; no bar where it does not fit)`, xLabel: 'board', yLabel: 'µs per step (log)', categories: boards, series: series((b) => (b.fits ? b.usPerStep : null)), logY: true, ...(r.rateHz ? { reference: { value: 1e6 / r.rateHz, label: `real-time budget at ${r.rateHz} Hz` } } : {}) }),
    barChart({ title: `${model}: µJ per step by board and mode (estimate)`, xLabel: 'board', yLabel: 'µJ per step (log)', categories: boards, series: series((b) => (b.fits ? b.uJPerStep : null)), logY: true }),
    barChart({ title: `${model}: RAM needed as % of each board's RAM (estimate)`, xLabel: 'board', yLabel: '% of RAM', categories: boards, series: series((b) => (100 * b.ramBytes) / (r.boardBudgets[b.board]?.ram ?? Infinity)), reference: { value: 100, label: 'board RAM' } }),
    barChart({ title: `${model}: flash needed as % of each board's flash (estimate)`, xLabel: 'board', yLabel: '% of flash', categories: boards, series: series((b) => (100 * b.flashBytes) / (r.boardBudgets[b.board]?.flash ?? Infinity)), reference: { value: 100, label: 'board flash' } }),
  ];
  return charts;
}

export function benchHtml(r: BenchReport): string {
  const sections: HtmlSection[] = [];
  const latency = latencyChart(r);
  sections.push({
    title: 'Host step latency (measured)',
    text: ['compute = step p50 − the p50 of the same loop against an empty-step firmware (call + input copy). Speedup is against the same engine\'s dense kernel on the same model; the ideal is 1/(1−s).'],
    figures: latency ? [latency] : [],
    tables: [{ header: HOST_HEADER, rows: hostRows(r) }],
  });
  if (r.peers.length > 0) sections.push({ title: 'Peers (measured on this host)', text: [...new Set(r.peers.map((p) => `${p.peer}: ${p.detail}`))], tables: [{ header: PEER_HEADER, rows: peerRows(r) }] });
  const t = checkTargets(r);
  if (t.length > 0) sections.push({ title: 'Targets (issue #5)', tables: [{ header: ['verdict', 'target', 'model', 'figure'], rows: targetRows(t) }] });
  for (const m of r.models) {
    if (!r.boards.some((b) => b.model === m.label)) continue;
    sections.push({
      title: `Boards: ${m.label} (estimates)`,
      text: [`${m.source}; ${pct(m.sparsity)} sparse, ${m.macsPerStep.toLocaleString('en-US')} MACs/step. Kernel choice per board and mode by --kernel auto.`],
      figures: boardCharts(r, m.label),
      tables: [{ header: boardDetailHeader(r), rows: boardDetailRows({ ...r, boards: r.boards.filter((b) => b.model === m.label) }) }],
    });
  }
  if (r.isa.length > 0) sections.push({ title: 'Arm instruction counts (QEMU) against the cost model', tables: [{ header: ISA_HEADER, rows: isaRows(r) }] });
  if (r.notes.length > 0) sections.push({ title: 'Notes', text: r.notes });
  return htmlPage('sparrow bench', header(r), sections);
}
