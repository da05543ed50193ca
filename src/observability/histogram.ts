// A Prometheus histogram whose series are bound once and then observed with a few array writes. prom-client's
// Histogram validates and hashes the labels and allocates on every observation, and the run-time and wait histograms
// are observed once per attempt each: most of what metrics cost a drain. Read through the registry like any metric
// (the same exposition as prom-client's: cumulative `_bucket` lines with `le` first, then `_sum` and `_count`).
import type { Metric, MetricValueWithName, Registry } from 'prom-client';

export interface HistogramSeries {
  observe(value: number): void;
}

class Series implements HistogramSeries {
  readonly labels: Readonly<Record<string, string>>;
  /** Observations per bucket (not cumulative); the last is above every bound (+Inf). */
  readonly counts: Float64Array;
  readonly #bounds: readonly number[];
  sum = 0;
  count = 0;

  constructor(labels: Record<string, string>, bounds: readonly number[]) {
    this.labels = labels;
    this.#bounds = bounds;
    this.counts = new Float64Array(bounds.length + 1);
  }

  observe(value: number): void {
    const bounds = this.#bounds;
    let i = 0;
    while (i < bounds.length && value > bounds[i]) i++;
    this.counts[i]++;
    this.sum += value;
    this.count++;
  }
}

export interface HistogramConfig<L extends string> {
  name: string;
  help: string;
  labelNames: readonly L[];
  /** Upper bounds, ascending. */
  buckets: readonly number[];
  registers: Registry[];
}

export class BoundHistogram<L extends string> {
  readonly name: string;
  readonly help: string;
  readonly type = 'histogram';
  readonly aggregator = 'sum';
  readonly #labelNames: readonly L[];
  readonly #bounds: readonly number[];
  readonly #series = new Map<string, Series>();

  constructor(config: HistogramConfig<L>) {
    this.name = config.name;
    this.help = config.help;
    this.#labelNames = config.labelNames;
    this.#bounds = [...config.buckets];
    // The registry reads a metric through get() alone (and reset()); prom-client's types list only its own classes.
    for (const registry of config.registers) registry.registerMetric(this as unknown as Metric);
  }

  /** The series of these label values (in labelNames' order), made on first use: callers keep it. */
  labels(...values: string[]): HistogramSeries {
    const key = values.join('\u0000');
    let series = this.#series.get(key);
    if (!series) {
      const labels = Object.fromEntries(this.#labelNames.map((name, i) => [name, values[i]]));
      this.#series.set(key, (series = new Series(labels, this.#bounds)));
    }
    return series;
  }

  async get(): Promise<{ name: string; help: string; type: 'histogram'; values: MetricValueWithName<string>[]; aggregator: 'sum' }> {
    const values: MetricValueWithName<string>[] = [];
    const bucket = `${this.name}_bucket`;
    for (const series of this.#series.values()) {
      let below = 0;
      for (let i = 0; i < this.#bounds.length; i++) {
        below += series.counts[i];
        values.push({ labels: { le: this.#bounds[i], ...series.labels }, value: below, metricName: bucket });
      }
      values.push({ labels: { le: '+Inf', ...series.labels }, value: series.count, metricName: bucket });
      values.push({ labels: { ...series.labels }, value: series.sum, metricName: `${this.name}_sum` });
      values.push({ labels: { ...series.labels }, value: series.count, metricName: `${this.name}_count` });
    }
    return { name: this.name, help: this.help, type: this.type, values, aggregator: this.aggregator };
  }

  reset(): void {
    for (const series of this.#series.values()) {
      series.counts.fill(0);
      series.sum = 0;
      series.count = 0;
    }
  }
}
