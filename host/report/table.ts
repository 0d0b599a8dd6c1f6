// ============================================================================
// Plain-text tables for the terminal: right-aligned numbers, left-aligned text.
// ============================================================================

export type Cell = string | number;

/** Render rows under a header; numeric cells are right-aligned. */
export function formatTable(header: string[], rows: Cell[][]): string {
  const text = (c: Cell): string => (typeof c === 'number' ? formatNumber(c) : c);
  const cells = [header, ...rows.map((r) => r.map(text))];
  const widths = header.map((_, i) => Math.max(...cells.map((r) => (r[i] ?? '').length)));
  const numeric = header.map((_, i) => rows.length > 0 && rows.every((r) => typeof r[i] === 'number'));
  const line = (r: string[]): string =>
    r.map((c, i) => (numeric[i] ? c.padStart(widths[i]) : c.padEnd(widths[i]))).join('  ').trimEnd();
  return [line(cells[0]), widths.map((w) => '-'.repeat(w)).join('  '), ...cells.slice(1).map(line)].join('\n');
}

/** Integers with thousands separators; other numbers to 4 significant digits. */
export function formatNumber(n: number): string {
  if (Number.isInteger(n)) return n.toLocaleString('en-US');
  if (n === 0 || !Number.isFinite(n)) return String(n);
  return Math.abs(n) >= 1e4 || Math.abs(n) < 1e-3 ? n.toExponential(3) : String(Number(n.toPrecision(4)));
}

export function formatBytes(n: number): string {
  if (n < 1024) return `${n} B`;
  if (n < 1024 * 1024) return `${(n / 1024).toFixed(1)} KiB`;
  return `${(n / 1024 / 1024).toFixed(2)} MiB`;
}
