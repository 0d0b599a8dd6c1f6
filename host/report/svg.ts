// ============================================================================
// Inline SVG charts for self-contained HTML reports: a line chart and a
// grouped bar chart, linear or log10 axes, each series a colour from one
// palette. No script, no external font or stylesheet: the file opens the
// same offline, in a mail client, or years from now.
// ============================================================================

export const PALETTE = ['#1f77b4', '#d62728', '#2ca02c', '#ff7f0e', '#9467bd', '#8c564b', '#e377c2', '#17becf', '#7f7f7f', '#bcbd22'];

export function escapeXml(s: string): string {
  return s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;');
}

const W = 780;
const H = 360;
const M = { left: 70, right: 230, top: 34, bottom: 52 };
const PW = W - M.left - M.right;
const PH = H - M.top - M.bottom;

interface Axis {
  min: number;
  max: number;
  log: boolean;
}

function axis(values: number[], log: boolean, includeZero: boolean): Axis {
  const v = values.filter((x) => Number.isFinite(x) && (!log || x > 0));
  if (v.length === 0) return { min: log ? 1 : 0, max: log ? 10 : 1, log };
  let min = Math.min(...v);
  let max = Math.max(...v);
  if (log) {
    min = 10 ** Math.floor(Math.log10(min));
    max = 10 ** Math.ceil(Math.log10(max));
    if (min === max) max = min * 10;
  } else {
    if (includeZero) min = Math.min(0, min);
    if (min === max) max = min + 1;
    const step = niceStep((max - min) / 5);
    min = Math.floor(min / step) * step;
    max = Math.ceil(max / step) * step;
  }
  return { min, max, log };
}

function niceStep(raw: number): number {
  const p = 10 ** Math.floor(Math.log10(raw));
  const f = raw / p;
  return (f <= 1 ? 1 : f <= 2 ? 2 : f <= 5 ? 5 : 10) * p;
}

function ticks(a: Axis): number[] {
  if (a.log) {
    const out: number[] = [];
    for (let e = Math.round(Math.log10(a.min)); e <= Math.round(Math.log10(a.max)); e++) out.push(10 ** e);
    return out;
  }
  const step = niceStep((a.max - a.min) / 5);
  const out: number[] = [];
  for (let t = a.min; t <= a.max + step * 1e-9; t += step) out.push(Number(t.toPrecision(12)));
  return out;
}

function scale(a: Axis, v: number, lo: number, hi: number): number {
  const t = a.log ? (Math.log10(v) - Math.log10(a.min)) / (Math.log10(a.max) - Math.log10(a.min)) : (v - a.min) / (a.max - a.min);
  return lo + t * (hi - lo);
}

export function formatTick(v: number): string {
  if (v === 0) return '0';
  const a = Math.abs(v);
  if (a >= 1e6) return `${v / 1e6}M`;
  if (a >= 1e4) return `${v / 1e3}k`;
  if (a < 0.01) return v.toExponential(0);
  return String(Number(v.toPrecision(3)));
}

function frame(title: string, xLabel: string, yLabel: string, body: string[]): string {
  return [
    `<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 ${W} ${H}" width="${W}" height="${H}" font-family="system-ui, sans-serif" font-size="12" role="img" aria-label="${escapeXml(title)}">`,
    `<text x="${M.left}" y="20" font-size="14" font-weight="600">${escapeXml(title)}</text>`,
    `<text x="${M.left + PW / 2}" y="${H - 10}" text-anchor="middle">${escapeXml(xLabel)}</text>`,
    `<text transform="translate(16 ${M.top + PH / 2}) rotate(-90)" text-anchor="middle">${escapeXml(yLabel)}</text>`,
    ...body,
    '</svg>',
  ].join('\n');
}

function yGrid(a: Axis, fmt: (v: number) => string): string[] {
  return ticks(a).map((t) => {
    const y = scale(a, t, M.top + PH, M.top).toFixed(1);
    return `<line x1="${M.left}" x2="${M.left + PW}" y1="${y}" y2="${y}" stroke="#ddd"/><text x="${M.left - 6}" y="${y}" text-anchor="end" dominant-baseline="middle">${escapeXml(fmt(t))}</text>`;
  });
}

function legend(items: { name: string; color: string; dashed?: boolean }[]): string[] {
  return items.map((it, i) => {
    const y = M.top + 8 + i * 18;
    const x = M.left + PW + 14;
    return `<line x1="${x}" x2="${x + 22}" y1="${y}" y2="${y}" stroke="${it.color}" stroke-width="3"${it.dashed ? ' stroke-dasharray="6 4"' : ''}/><text x="${x + 28}" y="${y}" dominant-baseline="middle">${escapeXml(it.name)}</text>`;
  });
}

export interface LineSeries {
  name: string;
  points: [number, number][];
  dashed?: boolean;
  color?: string;
}

export interface LineChart {
  title: string;
  xLabel: string;
  yLabel: string;
  series: LineSeries[];
  logY?: boolean;
  /** Start a linear y axis at 0 (default); false fits it to the data (accuracies a point apart). */
  yFromZero?: boolean;
  xFormat?: (v: number) => string;
  yFormat?: (v: number) => string;
}

export function lineChart(c: LineChart): string {
  const xs = c.series.flatMap((s) => s.points.map((p) => p[0]));
  const ys = c.series.flatMap((s) => s.points.map((p) => p[1]));
  const ax = axis(xs, false, false);
  const ay = axis(ys, !!c.logY, c.yFromZero ?? true);
  const fx = c.xFormat ?? formatTick;
  const colors = c.series.map((s, i) => s.color ?? PALETTE[i % PALETTE.length]);
  const body = [
    ...yGrid(ay, c.yFormat ?? formatTick),
    ...ticks(ax).map((t) => {
      const x = scale(ax, t, M.left, M.left + PW).toFixed(1);
      return `<line x1="${x}" x2="${x}" y1="${M.top + PH}" y2="${M.top + PH + 4}" stroke="#333"/><text x="${x}" y="${M.top + PH + 18}" text-anchor="middle">${escapeXml(fx(t))}</text>`;
    }),
    `<rect x="${M.left}" y="${M.top}" width="${PW}" height="${PH}" fill="none" stroke="#333"/>`,
    ...c.series.map((s, i) => {
      const pts = s.points.filter((p) => Number.isFinite(p[1]) && (!ay.log || p[1] > 0)).sort((a, b) => a[0] - b[0]);
      const xy = pts.map((p) => `${scale(ax, p[0], M.left, M.left + PW).toFixed(1)},${scale(ay, p[1], M.top + PH, M.top).toFixed(1)}`);
      const dots = xy.map((p) => `<circle cx="${p.split(',')[0]}" cy="${p.split(',')[1]}" r="3" fill="${colors[i]}"><title>${escapeXml(s.name)}</title></circle>`);
      return `<polyline fill="none" stroke="${colors[i]}" stroke-width="2"${s.dashed ? ' stroke-dasharray="6 4"' : ''} points="${xy.join(' ')}"/>${s.dashed ? '' : dots.join('')}`;
    }),
    ...legend(c.series.map((s, i) => ({ name: s.name, color: colors[i], dashed: s.dashed }))),
  ];
  return frame(c.title, c.xLabel, c.yLabel, body);
}

export interface BarChart {
  title: string;
  xLabel: string;
  yLabel: string;
  categories: string[];
  /** One value per category; null = no bar (not applicable). */
  series: { name: string; values: (number | null)[]; color?: string }[];
  logY?: boolean;
  /** A horizontal reference line (e.g. 100% of a budget). */
  reference?: { value: number; label: string };
  yFormat?: (v: number) => string;
}

export function barChart(c: BarChart): string {
  const values = c.series.flatMap((s) => s.values.filter((v): v is number => v !== null));
  const ay = axis(c.reference ? [...values, c.reference.value] : values, !!c.logY, true);
  const colors = c.series.map((s, i) => s.color ?? PALETTE[i % PALETTE.length]);
  const groupW = PW / Math.max(1, c.categories.length);
  const barW = (groupW * 0.8) / Math.max(1, c.series.length);
  const base = ay.log ? M.top + PH : scale(ay, Math.max(0, ay.min), M.top + PH, M.top);
  const body = [
    ...yGrid(ay, c.yFormat ?? formatTick),
    ...c.categories.map((cat, j) => `<text x="${(M.left + groupW * (j + 0.5)).toFixed(1)}" y="${M.top + PH + 18}" text-anchor="middle">${escapeXml(cat)}</text>`),
    ...c.series.flatMap((s, i) =>
      s.values.map((v, j) => {
        if (v === null || !Number.isFinite(v) || (ay.log && v <= 0)) return '';
        const x = M.left + groupW * j + groupW * 0.1 + barW * i;
        const y = scale(ay, v, M.top + PH, M.top);
        return `<rect x="${x.toFixed(1)}" y="${Math.min(y, base).toFixed(1)}" width="${Math.max(1, barW - 1).toFixed(1)}" height="${Math.abs(base - y).toFixed(1)}" fill="${colors[i]}"><title>${escapeXml(`${s.name}, ${c.categories[j]}: ${(c.yFormat ?? formatTick)(v)}`)}</title></rect>`;
      }),
    ),
    `<rect x="${M.left}" y="${M.top}" width="${PW}" height="${PH}" fill="none" stroke="#333"/>`,
    ...(c.reference
      ? [(() => {
          const y = scale(ay, c.reference.value, M.top + PH, M.top).toFixed(1);
          return `<line x1="${M.left}" x2="${M.left + PW}" y1="${y}" y2="${y}" stroke="#000" stroke-width="1.5" stroke-dasharray="5 3"/><text x="${M.left + PW - 4}" y="${Number(y) - 5}" text-anchor="end">${escapeXml(c.reference.label)}</text>`;
        })()]
      : []),
    ...legend(c.series.map((s, i) => ({ name: s.name, color: colors[i] }))),
  ];
  return frame(c.title, c.xLabel, c.yLabel, body);
}
