// Building DOM without innerHTML (no markup from data, ever: task payloads and errors are untrusted text), and the
// formatting of numbers, times and durations.

type Child = Node | string | number | null | undefined | false | readonly Child[];
type Listener = (event: Event) => void;
export type Attrs = Record<string, string | number | boolean | Listener | null | undefined>;

function append(parent: Node, child: Child): void {
  if (child === null || child === undefined || child === false) return;
  if (Array.isArray(child)) {
    for (const c of child as readonly Child[]) append(parent, c);
    return;
  }
  parent.appendChild(child instanceof Node ? child : document.createTextNode(String(child)));
}

function apply(el: Element, attrs: Attrs | null | undefined): void {
  if (!attrs) return;
  for (const [key, value] of Object.entries(attrs)) {
    if (value === null || value === undefined || value === false) continue;
    if (typeof value === 'function') el.addEventListener(key.replace(/^on/, ''), value);
    else if (key === 'class') el.setAttribute('class', String(value));
    else el.setAttribute(key, value === true ? '' : String(value));
  }
}

export function h<K extends keyof HTMLElementTagNameMap>(tag: K, attrs?: Attrs | null, ...children: Child[]): HTMLElementTagNameMap[K] {
  const el = document.createElement(tag);
  apply(el, attrs);
  for (const child of children) append(el, child);
  return el;
}

const SVG_NS = 'http://www.w3.org/2000/svg';

export function svg<K extends keyof SVGElementTagNameMap>(tag: K, attrs?: Attrs | null, ...children: Child[]): SVGElementTagNameMap[K] {
  const el = document.createElementNS(SVG_NS, tag);
  apply(el, attrs);
  for (const child of children) append(el, child);
  return el;
}

/** Replaces the children of `el`. */
export function fill(el: Element, ...children: Child[]): void {
  el.replaceChildren();
  for (const child of children) append(el, child);
}

const numberFormat = new Intl.NumberFormat();
export const num = (n: number): string => numberFormat.format(n);

/** A count that may be a lower bound (the status reached the count cap). */
export function count(n: number, capped: boolean): string {
  return capped && n > 0 ? `${num(n)}+` : num(n);
}

export function duration(ms: number | null | undefined): string {
  if (ms === null || ms === undefined || !Number.isFinite(ms)) return '–';
  if (ms < 1) return '<1 ms';
  if (ms < 1000) return `${Math.round(ms)} ms`;
  if (ms < 10_000) return `${(ms / 1000).toFixed(1)} s`;
  if (ms < 60_000) return `${Math.round(ms / 1000)} s`;
  const two = (big: number, bigUnit: string, small: number, smallUnit: string) => (small ? `${big} ${bigUnit} ${small} ${smallUnit}` : `${big} ${bigUnit}`);
  if (ms < 3_600_000) return two(Math.floor(ms / 60_000), 'min', Math.round((ms % 60_000) / 1000) % 60, 's');
  if (ms < 86_400_000) return two(Math.floor(ms / 3_600_000), 'h', Math.round((ms % 3_600_000) / 60_000) % 60, 'min');
  return two(Math.floor(ms / 86_400_000), 'd', Math.round((ms % 86_400_000) / 3_600_000) % 24, 'h');
}

/** A coarse span for "ago" and "in": 5 s, 3 min, 2 h, 4 d. */
function coarse(ms: number): string {
  if (ms < 60_000) return `${Math.round(ms / 1000)} s`;
  if (ms < 3_600_000) return `${Math.round(ms / 60_000)} min`;
  if (ms < 86_400_000) return `${Math.round(ms / 3_600_000)} h`;
  return `${Math.round(ms / 86_400_000)} d`;
}

/** "12 s ago", "in 3 min". */
export function relative(at: number | null | undefined, now = Date.now()): string {
  if (at === null || at === undefined) return '–';
  const diff = now - at;
  if (Math.abs(diff) < 1000) return 'just now';
  return diff > 0 ? `${coarse(diff)} ago` : `in ${coarse(-diff)}`;
}

const timeFormat = new Intl.DateTimeFormat(undefined, { hour: '2-digit', minute: '2-digit', second: '2-digit' });
const dateTimeFormat = new Intl.DateTimeFormat(undefined, { dateStyle: 'medium', timeStyle: 'medium' });

export function clock(at: number | null | undefined): string {
  return at === null || at === undefined ? '–' : timeFormat.format(at);
}

export function dateTime(at: number | null | undefined): string {
  return at === null || at === undefined ? '–' : dateTimeFormat.format(at);
}

/** The first block of a UUID, enough to tell tasks apart on a screen. */
export function shortId(id: string): string {
  return id.length > 13 ? `${id.slice(0, 8)}…${id.slice(-4)}` : id;
}

export function json(value: unknown): string {
  return JSON.stringify(value, null, 2) ?? 'null';
}

/** Calls `fn` at most once per `ms`, the last call winning (trailing edge). */
export function throttle(fn: () => void, ms: number): () => void {
  let timer: ReturnType<typeof setTimeout> | undefined;
  let last = 0;
  return () => {
    if (timer) return;
    const wait = Math.max(0, last + ms - Date.now());
    timer = setTimeout(() => {
      timer = undefined;
      last = Date.now();
      fn();
    }, wait);
  };
}
