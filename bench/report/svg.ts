// A hand-written SVG chart: msgs/s against sessions, one panel per message size, one line per target.
// Log-scale y, because the ceiling and the Python reference are an order of magnitude apart.
import type { Results } from '../results.js';
import { sizeLabel } from './targets.js';

const COLORS: Record<string, string> = {
  'smtp-sink': '#555555',
  aiosmtpd: '#d62728',
  'node no-op': '#8c564b',
  'smtp-server no-op': '#9467bd',
  'ours:spool': '#1f77b4',
  'ours:amqp': '#2ca02c',
  'ours:hpfeeds': '#ff7f0e',
};

const W = 300; // panel width
const H = 240; // panel height
const M = { top: 40, right: 15, bottom: 45, left: 60 };

const esc = (s: string): string => s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');

export function renderChart(r: Results): string {
  const sizes = [...new Set(r.ingest.map((x) => x.size))].sort((a, b) => a - b);
  const targets = [...new Set(r.ingest.map((x) => x.target))];
  const sessions = [...new Set(r.ingest.map((x) => x.sessions))].sort((a, b) => a - b);
  const legendH = 30;
  const width = Math.max(1, sizes.length) * (W + M.left + M.right);
  const height = H + M.top + M.bottom + legendH;
  const parts: string[] = [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" viewBox="0 0 ${width} ${height}" font-family="sans-serif" font-size="11">`,
    `<rect width="100%" height="100%" fill="white"/>`,
  ];
  sizes.forEach((size, i) => {
    const ox = i * (W + M.left + M.right) + M.left;
    const oy = M.top;
    const rows = r.ingest.filter((x) => x.size === size);
    const rates = rows.map((x) => x.msgsPerSec).filter((v) => v > 0);
    const lo = Math.pow(10, Math.floor(Math.log10(Math.min(...rates, 10))));
    const hi = Math.pow(10, Math.ceil(Math.log10(Math.max(...rates, 10))));
    const y = (v: number): number => oy + H - ((Math.log10(v) - Math.log10(lo)) / (Math.log10(hi) - Math.log10(lo))) * H;
    // sessions on an even spacing (1, 10, 50 are the points measured)
    const x = (s: number): number => ox + (sessions.length === 1 ? W / 2 : (sessions.indexOf(s) / (sessions.length - 1)) * W);
    parts.push(`<text x="${ox + W / 2}" y="${oy - 15}" text-anchor="middle" font-size="13" font-weight="bold">${esc(sizeLabel(size))} messages</text>`);
    parts.push(`<rect x="${ox}" y="${oy}" width="${W}" height="${H}" fill="none" stroke="#999"/>`);
    for (let d = lo; d <= hi; d *= 10) {
      for (const m of [1, 2, 5]) {
        const v = d * m;
        if (v > hi || v < lo) continue;
        parts.push(`<line x1="${ox}" x2="${ox + W}" y1="${y(v).toFixed(1)}" y2="${y(v).toFixed(1)}" stroke="#eee"/>`);
        parts.push(`<text x="${ox - 5}" y="${(y(v) + 4).toFixed(1)}" text-anchor="end">${v >= 1000 ? `${v / 1000}k` : v}</text>`);
      }
    }
    for (const s of sessions) {
      parts.push(`<text x="${x(s).toFixed(1)}" y="${oy + H + 15}" text-anchor="middle">${s}</text>`);
    }
    parts.push(`<text x="${ox + W / 2}" y="${oy + H + 32}" text-anchor="middle">sessions</text>`);
    parts.push(`<text transform="translate(${ox - 45},${oy + H / 2}) rotate(-90)" text-anchor="middle">msgs/s (log scale)</text>`);
    for (const t of targets) {
      const pts = rows.filter((row) => row.target === t).sort((a, b) => a.sessions - b.sessions);
      if (pts.length === 0) continue;
      const color = COLORS[t] ?? '#9467bd';
      const d = pts.map((p) => `${x(p.sessions).toFixed(1)},${y(p.msgsPerSec).toFixed(1)}`).join(' ');
      parts.push(`<polyline points="${d}" fill="none" stroke="${color}" stroke-width="2"/>`);
      for (const p of pts) {
        parts.push(`<circle cx="${x(p.sessions).toFixed(1)}" cy="${y(p.msgsPerSec).toFixed(1)}" r="3" fill="${color}"><title>${esc(`${t}, ${p.sessions} sessions: ${p.msgsPerSec.toFixed(0)} msgs/s`)}</title></circle>`);
      }
    }
  });
  let lx = M.left;
  for (const t of targets) {
    const color = COLORS[t] ?? '#9467bd';
    parts.push(`<rect x="${lx}" y="${height - 20}" width="12" height="12" fill="${color}"/>`);
    parts.push(`<text x="${lx + 16}" y="${height - 10}">${esc(t)}</text>`);
    lx += 30 + t.length * 7;
  }
  parts.push('</svg>');
  return parts.join('\n') + '\n';
}
