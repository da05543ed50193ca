// BoundHistogram (src/observability/histogram.ts) stands in for prom-client's Histogram on the per-attempt series: a
// scrape must read exactly what prom-client would have written for the same observations.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { Histogram, Registry } from 'prom-client';
import { BoundHistogram } from '../src/observability/histogram.ts';

describe('BoundHistogram', () => {
  it('exposes the same text as prom-client for the same observations, bounds and label values included', async () => {
    const theirs = new Registry();
    const ours = new Registry();
    const buckets = [0.005, 0.01, 1, 2.5];
    const reference = new Histogram({ name: 'x_seconds', help: 'run time', labelNames: ['queue', 'type'], buckets, registers: [theirs] });
    const bound = new BoundHistogram({ name: 'x_seconds', help: 'run time', labelNames: ['queue', 'type'], buckets, registers: [ours] });
    const series = bound.labels('q', 'needs "escaping"\n');
    // On a bound, just above it, between, far above every bound, and zero.
    for (const v of [0, 0.005, 0.0051, 0.3, 1, 7, 2.5]) {
      reference.labels('q', 'needs "escaping"\n').observe(v);
      series.observe(v);
    }
    reference.labels('r', 's').observe(0.01);
    bound.labels('r', 's').observe(0.01);
    assert.equal(await ours.metrics(), await theirs.metrics());
  });

  it('keeps a series its caller holds across a reset, counting from zero', async () => {
    const registry = new Registry();
    const bound = new BoundHistogram({ name: 'y_seconds', help: 'wait', labelNames: ['queue'], buckets: [1], registers: [registry] });
    const series = bound.labels('q');
    series.observe(0.5);
    registry.resetMetrics();
    series.observe(2);
    const text = await registry.metrics();
    assert.match(text, /^y_seconds_bucket\{le="1",queue="q"\} 0$/m);
    assert.match(text, /^y_seconds_bucket\{le="\+Inf",queue="q"\} 1$/m);
    assert.match(text, /^y_seconds_sum\{queue="q"\} 2$/m);
    assert.match(text, /^y_seconds_count\{queue="q"\} 1$/m);
  });
});
