// The request schemas of each route group (src/server/schemas/), validated as the server validates them
// (validation.ts), and the TypeScript types derived from them (provider.ts). The type checks run in `npm run
// typecheck`: a derived type that drifted from its schema, or from the core type a route hands it to, fails there.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { ValidateFunction } from 'ajv';
import type { Json } from '../src/core/task.ts';
import type { ScheduleInput as CoreScheduleInput } from '../src/engine/scheduler.ts';
import type { DeriveSpec } from '../src/engine/task-service.ts';
import { DeriveRequest, RecoverRequest, SignalRequest } from '../src/server/schemas/durable.ts';
import type { TypeSettings as CoreTypeSettings } from '../src/store/store.ts';
import { IdempotencyHeaders, NameParams } from '../src/server/schemas/common.ts';
import { NAMED_SCHEMAS } from '../src/server/schemas/index.ts';
import type { BodyOf, HeadersOf, TextOf } from '../src/server/schemas/provider.ts';
import { QueueLimits, QueueNameParams } from '../src/server/schemas/queues.ts';
import { ScheduleInput } from '../src/server/schemas/schedules.ts';
import {
  BatchRequest,
  CancelRequest,
  EventsQuery,
  FollowTokenRequest,
  ListQuery,
  ResultQuery,
  TaskIdParams,
  TaskSpec,
} from '../src/server/schemas/tasks.ts';
import { PublishRequest, SubscriptionInput } from '../src/server/schemas/topics.ts';
import { TypeParams, TypeSettingsInput } from '../src/server/schemas/types.ts';
import { ClaimRequest, FailRequest, ProgressRequest, WorkerRegistration } from '../src/server/schemas/worker.ts';
import { WsClientMessage } from '../src/server/schemas/ws.ts';
import { compileBodyValidator, describeSchemaError, type SchemaError, validatorCompiler } from '../src/server/validation.ts';

type Equal<A, B> = (<T>() => T extends A ? 1 : 2) extends <T>() => T extends B ? 1 : 2 ? true : false;

/** The problem detail the server would answer for `data` in `part`, or null when it passes. */
function detailOf(schema: object, data: unknown, part: 'body' | 'querystring' | 'params' | 'headers' = 'body'): string | null {
  // Untyped here: the table mixes schemas (their derived types are checked below).
  const compileBody = compileBodyValidator as (schema: object) => ValidateFunction;
  const validate = (
    part === 'body' ? compileBody(schema) : validatorCompiler({ schema, httpPart: part, method: 'GET', url: '/' })
  ) as ValidateFunction;
  if (validate(data)) return null;
  return describeSchemaError(validate.errors![0] as SchemaError, part).detail;
}

// [group, schema name, schema, a valid body, a malformed body, the detail the malformed one gets]
const BODIES: [string, string, object, unknown, unknown, string][] = [
  ['tasks', 'TaskSpec', TaskSpec, { type: 'email', payload: { to: 'a' } }, { type: 'email', priority: '5' }, 'priority: must be integer'],
  ['tasks', 'TaskSpec', TaskSpec, { type: 't', runAt: '2030-01-01T00:00:00Z' }, { type: 't', backoff: { delay: 5 } }, 'backoff.delay: is not a known field'],
  ['tasks', 'BatchRequest', BatchRequest, { tasks: [{ type: 'a' }] }, { tasks: [{ type: 'a' }, { payload: 1 }] }, 'tasks[1].type: is required'],
  ['tasks', 'CancelRequest', CancelRequest, { reason: 'no longer needed' }, { reason: '' }, 'reason: must NOT have fewer than 1 characters'],
  ['tasks', 'FollowTokenRequest', FollowTokenRequest, {}, { ttlSeconds: 86_401 }, 'ttlSeconds: must be <= 86400'],
  ['tasks', 'FollowTokenRequest', FollowTokenRequest, { signals: ['approval'] }, { signals: ['a', 'a'] }, 'signals: must NOT have duplicate items (items ## 1 and 0 are identical)'],
  ['durable', 'RecoverRequest', RecoverRequest, { fromVersion: 2 }, { fromVersion: 0 }, 'fromVersion: must be >= 1'],
  ['durable', 'DeriveRequest', DeriveRequest, { payload: { a: 1 }, fromCheckpoint: 'latest' }, { fromCheckpoint: 'first' }, 'fromCheckpoint: must be equal to constant'],
  ['durable', 'SignalRequest', SignalRequest, { data: { ok: true } }, { date: 1 }, 'date: is not a known field'],
  ['worker', 'ClaimRequest', ClaimRequest, { workerId: 'w1', types: ['email'] }, { workerId: 'w1', types: [] }, 'types: must NOT have fewer than 1 items'],
  ['worker', 'ProgressRequest', ProgressRequest, { attemptToken: 't', percent: 50 }, { attemptToken: 't', percent: 101 }, 'percent: must be <= 100'],
  ['worker', 'FailRequest', FailRequest, { attemptToken: 't', error: { message: 'boom' } }, { attemptToken: 't', error: 'boom' }, 'error: must be a JSON object'],
  ['worker', 'WorkerRegistration', WorkerRegistration, { workerId: 'w', types: ['a'], queues: null }, { workerId: 'w', types: ['a'], pid: -1 }, 'pid: must be >= 0'],
  ['queues', 'QueueLimits', QueueLimits, { maxConcurrency: null, rateLimit: { count: 1, intervalMs: 1000 } }, { rateLimit: { count: 1 } }, 'rateLimit.intervalMs: is required'],
  ['topics', 'PublishRequest', PublishRequest, { topic: 'orders.created', payload: [1] }, { payload: 1 }, 'topic: is required'],
  ['topics', 'SubscriptionInput', SubscriptionInput, { pattern: 'orders.#' }, { pattern: 'orders.#', queues: 'x' }, 'queues: is not a known field'],
  ['schedules', 'ScheduleInput', ScheduleInput, { cron: '* * * * *', task: { type: 'a' } }, { cron: '* * * * *', task: { type: 'a' }, missedPolicy: 'all' }, 'missedPolicy: must be one of "skip", "run-once"'],
  ['types', 'TypeSettingsInput', TypeSettingsInput, { defaults: { maxAttempts: 5 }, payloadSchema: null }, { payloadSchema: 'x' }, 'payloadSchema: must be object,boolean,null'],
  ['ws', 'WsClientMessage', WsClientMessage, { op: 'subscribe', taskId: 'x', afterSeq: 3 }, { op: 'subscribe', afterSeq: '3' }, 'afterSeq: must be integer'],
];

describe('request schemas, validated as the server validates them', () => {
  for (const [group, name, schema, valid, malformed, detail] of BODIES) {
    it(`${group}: ${name} takes a valid body and refuses a malformed one, naming the field`, () => {
      assert.equal(detailOf(schema, valid), null);
      assert.equal(detailOf(schema, malformed), detail);
    });
  }

  it('takes a body exactly as sent: no coercion from strings, no defaults filled in, unknown fields refused', () => {
    const body: Record<string, unknown> = { workerId: 'w', types: ['a'] };
    assert.equal(detailOf(ClaimRequest, body), null);
    assert.deepEqual(body, { workerId: 'w', types: ['a'] });
    assert.equal(detailOf(ClaimRequest, { workerId: 'w', types: ['a'], max: '2' }), 'max: must be integer');
    assert.equal(detailOf(TaskSpec, 'x'), 'the request body must be a JSON object');
  });

  it('coerces the query string from text and fills in its defaults', () => {
    const query: Record<string, unknown> = { limit: '10', status: 'queued' };
    assert.equal(detailOf(ListQuery, query, 'querystring'), null);
    assert.deepEqual(query, { limit: 10, status: 'queued' });
    const events: Record<string, unknown> = {};
    assert.equal(detailOf(EventsQuery, events, 'querystring'), null);
    assert.deepEqual(events, { after: 0, limit: 1000 });
    assert.equal(detailOf(ListQuery, { limit: '0' }, 'querystring'), 'query parameter limit: must be >= 1');
    assert.equal(detailOf(ResultQuery, { wait: 'soon' }, 'querystring'), 'query parameter wait: must be number');
    assert.equal(detailOf(ListQuery, { color: 'red' }, 'querystring'), 'query parameter color: is not a known field');
  });

  it('checks path parameters and headers', () => {
    for (const [schema, params] of [[TaskIdParams, { id: '' }], [QueueNameParams, { name: '' }], [NameParams, { name: '' }], [TypeParams, { type: '' }]] as const) {
      assert.match(detailOf(schema, params, 'params') ?? '', /^params \w+: must NOT have fewer than 1 characters$/);
    }
    assert.equal(detailOf(IdempotencyHeaders, { 'idempotency-key': 'k', other: 'x' }, 'headers'), null);
    assert.equal(detailOf(IdempotencyHeaders, { 'idempotency-key': '' }, 'headers'), 'headers idempotency-key: must NOT have fewer than 1 characters');
  });

  it('publishes every named schema once, under a unique title', () => {
    const titles = NAMED_SCHEMAS.map((s) => s.title);
    assert.equal(new Set(titles).size, titles.length);
    for (const schema of [TaskSpec, ClaimRequest, QueueLimits, PublishRequest, ScheduleInput, TypeSettingsInput, WsClientMessage]) {
      assert.ok(NAMED_SCHEMAS.includes(schema as { title: string }), schema.title);
    }
  });
});

describe('request types derived from the schemas', () => {
  it('types a body as sent: defaults documented in the schema stay optional', () => {
    const claim: BodyOf<typeof ClaimRequest> = { workerId: 'w', types: ['a'] };
    const max: number | undefined = claim.max;
    // @ts-expect-error the body Ajv fills in no default, so `max` may be absent
    const defaulted: number = claim.max;
    // @ts-expect-error `types` is required
    const missing: BodyOf<typeof ClaimRequest> = { workerId: 'w' };
    // @ts-expect-error unknown fields are refused
    const unknown: BodyOf<typeof ClaimRequest> = { workerId: 'w', types: ['a'], bogus: 1 };
    assert.equal(detailOf(ClaimRequest, claim), null);
    assert.deepEqual([max, defaulted, missing, unknown].length, 4);
  });

  it('types a query with its defaults present', () => {
    const eq: Equal<TextOf<typeof EventsQuery>, { access_token?: string; after: number; limit: number }> = true;
    const list: TextOf<typeof ListQuery>['limit'] = 50;
    assert.ok(eq && list);
  });

  it('types nullable, union and any-JSON fields as the schema says', () => {
    const limits: Equal<
      BodyOf<typeof QueueLimits>,
      {
        maxConcurrency?: number | null;
        rateLimit?: { count: number; intervalMs: number } | null;
        costLimit?: { budget: number; periodMs: number; perKey?: boolean } | null;
      }
    > = true;
    const runAt: Equal<BodyOf<typeof TaskSpec>['runAt'], number | string | undefined> = true;
    const payload: Equal<BodyOf<typeof TaskSpec>['payload'], Json | undefined> = true;
    const op: Equal<BodyOf<typeof WsClientMessage>['op'], 'subscribe' | 'unsubscribe'> = true;
    const key: Equal<HeadersOf<typeof IdempotencyHeaders>['idempotency-key'], string | undefined> = true;
    const traceparent: HeadersOf<typeof IdempotencyHeaders>['traceparent'] = 'other headers keep their Node types';
    assert.ok(limits && runAt && payload && op && key && traceparent);
  });

  it('derives bodies the engine takes as they are', () => {
    const schedule: BodyOf<typeof ScheduleInput> = { cron: '0 * * * *', task: { type: 'report', payload: { a: [1] } } };
    const core: CoreScheduleInput = schedule;
    const settings: BodyOf<typeof TypeSettingsInput> = { defaults: { backoff: { type: 'fixed' } }, payloadSchema: { type: 'object' } };
    const coreSettings: { defaults?: CoreTypeSettings['defaults']; payloadSchema?: Json | null } = settings;
    assert.equal(detailOf(ScheduleInput, core), null);
    assert.equal(detailOf(TypeSettingsInput, coreSettings), null);
    const derive: BodyOf<typeof DeriveRequest> = { payload: { a: [1] }, fromCheckpoint: 2, timeoutMs: null, tags: { k: 'v' } };
    const coreDerive: DeriveSpec = derive;
    assert.equal(detailOf(DeriveRequest, coreDerive), null);
  });
});
