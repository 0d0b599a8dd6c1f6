// ============================================================================
// `sparrow emulate --html`: one self-contained HTML file (inline CSS and SVG,
// no script, nothing fetched) with a per-core utilisation heatmap laid out on
// the chip's mesh, an event raster (time steps × neurons, a mark per message,
// subsampled when large) and the report's tables. Kept apart from
// host/report/ so the emulator's page can change without touching the bench
// report's.
// ============================================================================

import { EmulationReport } from './report';

function esc(s: string): string {
  return s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;');
}

const CSS = `body{font-family:system-ui,sans-serif;margin:2em auto;max-width:1100px;color:#222;line-height:1.45}
h1{font-size:1.45em}h2{font-size:1.15em;margin-top:2em;border-bottom:1px solid #ccc}
table{border-collapse:collapse;margin:.8em 0;font-size:.88em}th,td{border:1px solid #ccc;padding:3px 8px}
th{background:#f3f3f3;text-align:left}td.n{text-align:right;font-variant-numeric:tabular-nums}.meta{color:#555}`;

type Cell = string | number;

function num(n: number): string {
  if (!Number.isFinite(n)) return n > 0 ? '∞' : String(n);
  if (Number.isInteger(n)) return n.toLocaleString('en-US');
  return String(Number(n.toPrecision(4)));
}

function table(header: string[], rows: Cell[][]): string {
  const td = (c: Cell): string => (typeof c === 'number' ? `<td class="n">${esc(num(c))}</td>` : `<td>${esc(c)}</td>`);
  return ['<table>', `<tr>${header.map((h) => `<th>${esc(h)}</th>`).join('')}</tr>`, ...rows.map((r) => `<tr>${r.map(td).join('')}</tr>`), '</table>'].join('\n');
}

/** White → dark blue. */
function blue(t: number): string {
  const c = (a: number, b: number): number => Math.round(a + (b - a) * Math.max(0, Math.min(1, t)));
  return `rgb(${c(247, 8)},${c(251, 48)},${c(255, 107)})`;
}

// ---------------------------------------------------------------------------
// Figures
// ---------------------------------------------------------------------------

/** Cores on the mesh: one square per tile, split into its cores; colour = mean busy time per step. */
export function heatmapSvg(r: EmulationReport): string {
  const { width, height, coresPerTile } = r.placement.mesh;
  const busy = r.run.coreBusyUs;
  const synOps = r.run.coreSynOps;
  const side = Math.ceil(Math.sqrt(coresPerTile));
  const tilePx = Math.max(40, Math.min(96, Math.floor(760 / width)));
  const cellPx = (tilePx - 6) / side;
  const top = 30;
  const W = width * tilePx + 20;
  const H = height * tilePx + top + 46;
  const usedBusy = r.placement.perCore.map((u, c) => (u.neurons > 0 ? busy[c] : NaN)).filter((b) => !Number.isNaN(b));
  const max = Math.max(...usedBusy, 0);
  const min = Math.min(...usedBusy, max);
  // Min–max scale: a balanced placement differs by a few percent between cores, which a 0-based scale would hide.
  const shade = (b: number): number => (max > min ? (b - min) / (max - min) : 1);
  const parts: string[] = [`<svg xmlns="http://www.w3.org/2000/svg" width="${W}" height="${H}" font-size="11">`];
  parts.push(`<text x="10" y="18" font-weight="600">Busy time per core, µs/step (estimate; darker = busier; grey = no neurons)</text>`);
  for (let c = 0; c < r.placement.cores; c++) {
    const tile = Math.floor(c / coresPerTile);
    const tx = tile % width;
    const ty = Math.floor(tile / width);
    const i = c % coresPerTile;
    const x = 10 + tx * tilePx + 3 + (i % side) * cellPx;
    const y = top + ty * tilePx + 3 + Math.floor(i / side) * cellPx;
    const use = r.placement.perCore[c];
    const fill = use.neurons === 0 ? '#ddd' : blue(shade(busy[c]));
    parts.push(`<rect x="${x.toFixed(1)}" y="${y.toFixed(1)}" width="${(cellPx - 1).toFixed(1)}" height="${(cellPx - 1).toFixed(1)}" fill="${fill}"><title>core ${c} (tile ${tile} at x ${tx}, y ${ty}): ${use.neurons} neurons, ${use.synapses} synapses, fan-in ${use.fanIn}; ${num(synOps[c])} synaptic ops/step, busy ${num(busy[c])} µs/step (estimate)</title></rect>`);
  }
  for (let ty = 0; ty < height; ty++) {
    for (let tx = 0; tx < width; tx++) parts.push(`<rect x="${10 + tx * tilePx}" y="${top + ty * tilePx}" width="${tilePx}" height="${tilePx}" fill="none" stroke="#999"/>`);
  }
  const ly = top + height * tilePx + 14;
  for (let k = 0; k <= 10; k++) parts.push(`<rect x="${10 + k * 16}" y="${ly}" width="16" height="10" fill="${blue(k / 10)}"/>`);
  parts.push(`<text x="10" y="${ly + 24}">${esc(num(min))}</text><text x="${10 + 11 * 16 + 6}" y="${ly + 9}">${esc(num(max))} µs/step</text>`);
  parts.push('</svg>');
  return parts.join('\n');
}

const POP_COLOURS: Record<string, string> = { input: '#7f7f7f', encoder: '#8c564b', norm: '#1f77b4', state: '#d62728', activation: '#2ca02c', decision: '#e377c2', gate: '#ff7f0e', residual: '#9467bd', decoder: '#17becf' };

/** A mark per message: time steps across, neurons down (every k-th neuron when there are many). */
export function rasterSvg(r: EmulationReport, raster: NonNullable<EmulationReport['rasters']>[number], maxRows = 360): string {
  const populations = r.model.populations;
  const N = raster.neurons;
  const stride = Math.max(1, Math.ceil(N / maxRows));
  const rows = Math.ceil(N / stride);
  const rowPx = Math.max(1, Math.min(6, Math.floor(480 / rows)));
  const stepPx = Math.max(1, Math.min(8, Math.floor(800 / raster.steps)));
  const left = 150;
  const top = 30;
  const W = left + raster.steps * stepPx + 20;
  const H = top + rows * rowPx + 40;
  const paths = new Map<string, string[]>();
  const kindOf = new Array<string>(N);
  for (const p of populations) for (let n = p.start; n < p.start + p.count; n++) kindOf[n] = p.kind;
  for (let row = 0; row < rows; row++) {
    const n = row * stride;
    for (let t = 0; t < raster.steps; t++) {
      if (!raster.fired[t * N + n]) continue;
      const list = paths.get(kindOf[n]) ?? [];
      list.push(`M${left + t * stepPx},${top + row * rowPx}h${stepPx}v${rowPx}h-${stepPx}z`);
      paths.set(kindOf[n], list);
    }
  }
  const parts: string[] = [`<svg xmlns="http://www.w3.org/2000/svg" width="${W}" height="${H}" font-size="10">`];
  parts.push(`<text x="10" y="18" font-weight="600">Messages: first ${raster.steps} steps × ${rows} of ${N} neurons${stride > 1 ? ` (every ${stride}th)` : ''}, threshold ${raster.threshold}${raster.threshold === 0 ? ' (a message per nonzero value)' : ' (sigma-delta)'}</text>`);
  parts.push(`<rect x="${left}" y="${top}" width="${raster.steps * stepPx}" height="${rows * rowPx}" fill="#fafafa" stroke="#ccc"/>`);
  for (const [kind, d] of paths) parts.push(`<path fill="${POP_COLOURS[kind] ?? '#333'}" d="${d.join('')}"/>`);
  for (const p of populations) {
    const y = top + Math.ceil(p.start / stride) * rowPx;
    parts.push(`<line x1="${left - 4}" x2="${left + raster.steps * stepPx}" y1="${y}" y2="${y}" stroke="#ddd"/>`);
    if (Math.ceil(p.count / stride) * rowPx >= 8) parts.push(`<text x="${left - 6}" y="${y + 9}" text-anchor="end" fill="${POP_COLOURS[p.kind] ?? '#333'}">${esc(p.name)}</text>`);
  }
  parts.push(`<text x="${left}" y="${H - 10}">time step →  (0 … ${raster.steps - 1})</text>`);
  parts.push('</svg>');
  return parts.join('\n');
}

// ---------------------------------------------------------------------------
// Page
// ---------------------------------------------------------------------------

export function emulationHtml(r: EmulationReport): string {
  const s = r.run.perStep;
  const c = r.model.config;
  const sections: string[] = [];
  sections.push('<h2>Chip utilisation</h2>', heatmapSvg(r));
  sections.push(`<p>${r.placement.usedCores} of ${r.placement.cores} cores used; per core at most ${num(r.placement.maxNeurons)} neurons, ${num(r.placement.maxSynapseBytes)} B of synapse memory, fan-in ${num(r.placement.maxFanIn)}; LPT load max/mean ${r.placement.loadImbalance.toFixed(2)}.</p>`);
  sections.push('<h2>Event raster</h2>', ...(r.rasters ?? []).map((raster) => rasterSvg(r, raster)));
  sections.push(`<h2>Per step, mean over ${r.run.steps} steps (threshold ${r.run.threshold})</h2>`);
  sections.push(table(
    ['group', 'neurons', 'synapses', 'messages', 'synaptic ops', 'hops', 'neuron updates', 'µs/step (estimate)', 'µJ/step (estimate, dynamic)'],
    [...r.run.groups.map((g) => [g.name, g.neurons, g.synapses, g.messages, g.synOps, g.hops, g.neuronUpdates, g.timeUs, g.energyUj]),
      ['total', r.model.neurons, r.model.synapses, s.messages, s.synOps, s.hops, s.neuronUpdates, s.timeUs, s.energyUj]],
  ));
  sections.push(`<p>Total µs: slowest core ${num(s.busyUs)} + network and barrier ${num(s.networkUs)}. Total µJ: dynamic ${num(s.dynamicEnergyUj)} + static ${num(s.staticEnergyUj)}.</p>`);
  if (r.sma) {
    const pct = (x: number): string => `${(100 * x).toFixed(1)}%`;
    sections.push('<h2>SMA: work the skipped gates saved</h2>');
    sections.push(`<p>Per layer a decision neuron runs the gate only when w_d·y + b_d &gt; 0; on its off steps the gate units neither update nor send${r.run.threshold === 0 ? ', and a’s synaptic ops onto them are skipped' : ' (with T &gt; 0 they still integrate a’s Δs)'}. Per-step means over ${r.run.steps} steps, not part of the figures above.</p>`);
    sections.push(table(
      ['layer', 'gate ran', 'messages saved', 'synaptic ops saved', 'neuron updates saved', 'µJ/step saved (estimate, dynamic)'],
      [...r.sma.layers.map((l) => [l.name, pct(l.gateRan), l.saved.messages, l.saved.synOps, l.saved.neuronUpdates, l.saved.energyUj]),
        ['total', '', r.sma.total.messages, r.sma.total.synOps, r.sma.total.neuronUpdates, r.sma.total.energyUj]],
    ));
  }
  sections.push(`<h2>Dense vs sparse vs sigma-delta${r.sma ? ' vs gate every step' : ''}</h2>`);
  sections.push(table(
    ['model', 'synapses', 'synaptic ops/step', 'messages/step', 'µJ/step (estimate)', 'µs/step (estimate)', 'output SQNR vs sparse T=0 (dB)', ...(r.sma ? ['gate ran'] : []), 'fits the chip'],
    r.comparison.map((row) => [row.label, row.synapses, row.synOpsPerStep, row.messagesPerStep, row.energyUjPerStep, row.timeUsPerStep, row.outputSqnrDb === Infinity ? '∞ (identical)' : row.outputSqnrDb, ...(r.sma ? [`${(100 * (row.gateRan ?? 0)).toFixed(1)}%`] : []), row.overLimit ? `no: ${row.overLimit}` : 'yes']),
  ));
  if (r.sma) sections.push('<p>“Gate every step” is the same weights without the decision: a different model, so its SQNR is how much SMA changes the outputs, not an error; it has no y messages, decision or enables to pay for.</p>');
  if (r.task) {
    const t = r.task;
    sections.push(`<h2>Task metric: ${t.task}, ${t.examples} test examples</h2>`);
    sections.push(table(
      ['run', t.metricName],
      [['integer reference (the firmware)', t.reference.toFixed(2)], [`emulated, T=0${t.exactBitExact ? ' (bit-exact)' : ' (DIFFERS from the reference)'}`, t.exact.toFixed(2)], [`emulated, sigma-delta T=${t.sigmaDelta.threshold}`, t.sigmaDelta.metric.toFixed(2)]],
    ));
  }
  sections.push('<h2>Per core</h2>');
  sections.push(table(
    ['core', 'neurons', 'synapses', 'synapse bytes', 'fan-in', 'synaptic ops/step', 'busy µs/step (estimate)'],
    r.placement.perCore.map((u, i) => [i, u.neurons, u.synapses, u.synapseBytes, u.fanIn, r.run.coreSynOps[i], r.run.coreBusyUs[i]]).filter((row) => (row[1] as number) > 0),
  ));
  return [
    '<!DOCTYPE html>',
    '<html lang="en"><head><meta charset="utf-8">',
    `<title>sparrow emulate: ${esc(r.model.file)} on ${esc(r.chip.name)}</title>`,
    `<style>${CSS}</style></head><body>`,
    `<h1>sparrow emulate: ${esc(r.model.file)} on ${esc(r.chip.name)}</h1>`,
    `<p class="meta">${esc(r.chip.title)}. µs and µJ are estimates from the chip profile, not measurements; message, synaptic-op and hop counts are exact for this input.</p>`,
    `<p class="meta">Model: d_in ${c.d_in}, H ${c.d_model}, P ${c.d_state}, ${c.n_layers} layers, d_out ${c.d_out}${c.gate ? ', gate' : ''}${c.sma ? ', SMA' : ''}; ${num(r.model.neurons)} neurons, ${num(r.model.synapses)} synapses (${num(r.model.denseSynapses)} if dense). Input: ${r.input.steps} steps of ${esc(r.input.source)}.</p>`,
    ...sections,
    '</body></html>',
    '',
  ].join('\n');
}
