import assert from 'node:assert/strict';
import { it } from 'node:test';
import { checkPattern, checkTopic, topicMatches } from '../src/core/topic.ts';

const TABLE: [pattern: string, topic: string, matches: boolean][] = [
  ['orders.created', 'orders.created', true],
  ['orders.created', 'orders.updated', false],
  ['orders.*', 'orders.created', true],
  ['orders.*', 'orders', false],
  ['orders.*', 'orders.eu.created', false],
  ['*.created', 'orders.created', true],
  ['*.*', 'a.b', true],
  ['*', 'a.b', false],
  ['#', 'a', true],
  ['#', 'a.b.c', true],
  ['orders.#', 'orders', true],
  ['orders.#', 'orders.eu.created', true],
  ['orders.#', 'invoices.created', false],
  ['#.created', 'created', true],
  ['#.created', 'orders.eu.created', true],
  ['#.created', 'orders.created.late', false],
  ['orders.#.created', 'orders.created', true],
  ['orders.#.created', 'orders.eu.fr.created', true],
  ['orders.*.created', 'orders.created', false],
  ['orders.*.created', 'orders.eu.created', true],
  ['#.eu.#', 'orders.eu.created', true],
  ['#.eu.#', 'eu', true],
  ['#.eu.#', 'orders.us.created', false],
  ['a.#.#.b', 'a.b', true],
  ['a.*.#', 'a', false],
  ['a.*.#', 'a.x', true],
];

it('matches topics against patterns', () => {
  for (const [pattern, topic, expected] of TABLE) {
    assert.equal(topicMatches(pattern, topic), expected, `${pattern} vs ${topic}`);
  }
});

it('rejects malformed topics and patterns, naming the field', () => {
  for (const bad of ['', 'a..b', '.a', 'a.', 'a b', 'a.*']) assert.throws(() => checkTopic(bad), /topic:/);
  for (const bad of ['', 'a..b', 'a.**', 'a.#b', 'a b']) assert.throws(() => checkPattern(bad), /pattern:/);
  assert.equal(checkPattern('a.*.#'), 'a.*.#');
});
