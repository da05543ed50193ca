// The overview's two charts, drawn as SVG by hand: throughput with failures and the failure rate, and enqueue-to-start
// latency, minute by minute over the last hour. They scale with their container (viewBox) and take their colours
// from the stylesheet, so they follow light and dark mode. They are drawn at the width they are shown at (one SVG unit
// per CSS pixel), so labels keep their size on a phone; the overview draws them again when that width changes.
import type { ActivityMinute } from '../observability/activity.ts';
import { clock, duration, svg } from './dom.ts';


const H = 180;
const M = { left: 44, right: 40, top: 10, bottom: 22 };
const PLOT_H = H - M.top - M.bottom;

/** 1, 2, 5, 10, 20, 50 … at or above `value` (at least `min`). */
function niceCeil(value: number, min: number): number {
  const v = Math.max(value, min);
  const step = 10 ** Math.floor(Math.log10(v));
  for (const m of [1, 2, 5, 10]) if (m * step >= v) return m * step;
  return 10 * step;
}

interface Frame {
  root: SVGSVGElement;
  x: (i: number) => number;
  /** Width of one minute. */
  bw: number;
  /** Right edge of the plot. */
  right: number;
}

function frame(minutes: readonly ActivityMinute[], since: number, width: number, label: string): Frame {
  const W = Math.max(260, Math.round(width));
  const root = svg('svg', { class: 'chart', viewBox: `0 0 ${W} ${H}`, width: W, height: H, role: 'img', 'aria-label': label });
  const bw = (W - M.left - M.right) / Math.max(1, minutes.length);
  const x = (i: number) => M.left + i * bw;
  // Minutes before this server started watching are unknown, not idle.
  const unknown = minutes.findIndex((m) => m.at + 60_000 > since);
  if (unknown > 0) root.append(svg('rect', { class: 'unknown', x: M.left, y: M.top, width: unknown * bw, height: PLOT_H }, svg('title', null, 'before this server started: not known')));
  // A time label every 10 minutes, or every 20 when the chart is narrow.
  const every = W < 480 ? 20 : 10;
  for (let i = 0; i + every / 2 < minutes.length; i += every) {
    root.append(svg('text', { x: x(i), y: H - 6, 'text-anchor': 'start' }, clock(minutes[i].at).slice(0, 5)));
  }
  root.append(svg('text', { x: W - M.right, y: H - 6, 'text-anchor': 'end' }, 'now'));
  return { root, x, bw, right: W - M.right };
}

function gridLines(f: Frame, max: number, format: (v: number) => string): (v: number) => number {
  const { root } = f;
  const y = (v: number) => M.top + PLOT_H - (v / max) * PLOT_H;
  for (const v of [0, max / 2, max]) {
    root.append(svg('line', { class: 'grid', x1: M.left, x2: f.right, y1: y(v), y2: y(v) }));
    root.append(svg('text', { x: M.left - 6, y: y(v) + 3, 'text-anchor': 'end' }, format(v)));
  }
  return y;
}

/** A polyline through the points that have a value, broken where they do not, and a dot on each point. */
function line(root: SVGSVGElement, className: string, points: readonly (readonly [number, number] | null)[]): void {
  root.append(svg('path', { class: className, d: path(points) }));
  for (const p of points) if (p) root.append(svg('circle', { class: `${className} dot`, cx: p[0].toFixed(1), cy: p[1].toFixed(1), r: 1.8 }));
}

function path(points: readonly (readonly [number, number] | null)[]): string {
  let d = '';
  let pen = false;
  for (const p of points) {
    if (!p) {
      pen = false;
      continue;
    }
    d += `${pen ? 'L' : 'M'}${p[0].toFixed(1)},${p[1].toFixed(1)}`;
    pen = true;
  }
  return d;
}

/** Completed and failed attempts per minute (stacked bars), and the failure rate (line, right axis). */
export function throughputChart(minutes: readonly ActivityMinute[], since: number, width: number): SVGSVGElement {
  const f = frame(minutes, since, width, 'Completed and failed attempts per minute, and the failure rate');
  const { root, x, bw } = f;
  const max = niceCeil(Math.max(0, ...minutes.map((m) => m.completed + m.failed)), 4);
  const y = gridLines(f, max, (v) => String(Math.round(v)));
  const rateY = (r: number) => M.top + PLOT_H - r * PLOT_H;
  for (const [v, label] of [[0, '0%'], [0.5, '50%'], [1, '100%']] as const) {
    root.append(svg('text', { x: f.right + 6, y: rateY(v) + 3, 'text-anchor': 'start' }, label));
  }
  const gap = Math.min(2, bw * 0.25);
  for (const [i, m] of minutes.entries()) {
    const total = m.completed + m.failed;
    if (m.completed > 0) root.append(svg('rect', { class: 'bar-ok', x: x(i) + gap / 2, width: bw - gap, y: y(m.completed), height: y(0) - y(m.completed) }));
    if (m.failed > 0) root.append(svg('rect', { class: 'bar-fail', x: x(i) + gap / 2, width: bw - gap, y: y(total), height: y(m.completed) - y(total) }));
    const rate = total > 0 ? ` (${Math.round((m.failed / total) * 100)}% failed)` : '';
    const tip = `${clock(m.at).slice(0, 5)}: ${m.completed} completed, ${m.failed} failed${rate}, ${m.retried} retried, ${m.cancelled} cancelled, ${m.started} started`;
    root.append(svg('rect', { x: x(i), y: M.top, width: bw, height: PLOT_H, fill: 'transparent' }, svg('title', null, tip)));
  }
  const points = minutes.map((m, i) => {
    const total = m.completed + m.failed;
    return total > 0 ? ([x(i) + bw / 2, rateY(m.failed / total)] as const) : null;
  });
  line(root, 'rate', points);
  return root;
}

/** Enqueue-to-start latency per minute: median (line) and 95th percentile (dashed). */
export function waitChart(minutes: readonly ActivityMinute[], since: number, width: number): SVGSVGElement {
  const f = frame(minutes, since, width, 'Enqueue-to-start latency per minute: median and 95th percentile');
  const { root, x, bw } = f;
  const max = niceCeil(Math.max(0, ...minutes.map((m) => m.waitP95Ms ?? 0)), 10);
  const y = gridLines(f, max, (v) => (v === 0 ? '0' : duration(v).replace(/\.0 s$/, ' s')));
  const points = (pick: (m: ActivityMinute) => number | null) =>
    minutes.map((m, i) => {
      const v = pick(m);
      return v === null ? null : ([x(i) + bw / 2, y(v)] as const);
    });
  line(root, 'p95', points((m) => m.waitP95Ms));
  line(root, 'p50', points((m) => m.waitP50Ms));
  for (const [i, m] of minutes.entries()) {
    if (m.waitP50Ms === null) continue;
    const tip = `${clock(m.at).slice(0, 5)}: median ${duration(m.waitP50Ms)}, p95 ${duration(m.waitP95Ms)}, max ${duration(m.waitMaxMs)} (${m.started} started)`;
    root.append(svg('rect', { x: x(i), y: M.top, width: bw, height: PLOT_H, fill: 'transparent' }, svg('title', null, tip)));
  }
  return root;
}
