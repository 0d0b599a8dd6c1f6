// ============================================================================
// One self-contained HTML page: inline CSS, inline SVG, no script and nothing
// fetched, so a report can be mailed, attached to an issue, or opened offline.
// ============================================================================

import { escapeXml } from './svg';

export type HtmlCell = string | number;

export interface HtmlSection {
  title: string;
  /** Paragraphs of plain text (escaped). */
  text?: string[];
  /** Raw SVG/HTML blocks produced by host/report/svg.ts. */
  figures?: string[];
  tables?: { caption?: string; header: string[]; rows: HtmlCell[][] }[];
}

const CSS = `body{font-family:system-ui,sans-serif;margin:2em auto;max-width:1100px;color:#222;line-height:1.45}
h1{font-size:1.5em}h2{font-size:1.2em;margin-top:2em;border-bottom:1px solid #ccc}
table{border-collapse:collapse;margin:.8em 0;font-size:.88em}th,td{border:1px solid #ccc;padding:3px 8px}
th{background:#f3f3f3;text-align:left}td.n{text-align:right;font-variant-numeric:tabular-nums}
caption{text-align:left;font-weight:600;padding:.3em 0}figure{margin:1em 0}.meta{color:#555}.ok{color:#176a17}.bad{color:#b00020}`;

function cell(c: HtmlCell): string {
  if (typeof c === 'number') return `<td class="n">${escapeXml(Number.isInteger(c) ? c.toLocaleString('en-US') : String(Number(c.toPrecision(4))))}</td>`;
  const cls = c.startsWith('✓') ? ' class="ok"' : c.startsWith('✗') ? ' class="bad"' : '';
  return `<td${cls}>${escapeXml(c)}</td>`;
}

export function htmlTable(t: { caption?: string; header: string[]; rows: HtmlCell[][] }): string {
  return [
    '<table>',
    t.caption ? `<caption>${escapeXml(t.caption)}</caption>` : '',
    `<tr>${t.header.map((h) => `<th>${escapeXml(h)}</th>`).join('')}</tr>`,
    ...t.rows.map((r) => `<tr>${r.map(cell).join('')}</tr>`),
    '</table>',
  ].join('\n');
}

export function htmlPage(title: string, meta: string[], sections: HtmlSection[]): string {
  return [
    '<!DOCTYPE html>',
    '<html lang="en"><head><meta charset="utf-8">',
    `<title>${escapeXml(title)}</title>`,
    `<style>${CSS}</style></head><body>`,
    `<h1>${escapeXml(title)}</h1>`,
    ...meta.map((m) => `<p class="meta">${escapeXml(m)}</p>`),
    ...sections.map((s) =>
      [
        `<h2>${escapeXml(s.title)}</h2>`,
        ...(s.text ?? []).map((p) => `<p>${escapeXml(p)}</p>`),
        ...(s.figures ?? []).map((f) => `<figure>${f}</figure>`),
        ...(s.tables ?? []).map(htmlTable),
      ].join('\n'),
    ),
    '</body></html>',
    '',
  ].join('\n');
}
