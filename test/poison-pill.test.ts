// Issue 14 point 2: concurrent submits share one INSERT (group commit). One bad task among them must be refused
// alone: the others are stored, whatever the backend, over HTTP and through the SDK alike.
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { ValidationError } from '../src/core/errors.ts';
import { uuidv7 } from '../src/core/ids.ts';
import { DEFAULT_TASK_DEFAULTS, type NewTask, normalizeTaskSpec } from '../src/core/validate.ts';
import { Coalescer } from '../src/engine/coalescer.ts';
import { openStore } from '../src/store/open.ts';
import { dropSchema, freshSchema, requirePostgres, storeUrl } from './helpers/postgres.ts';
import { startServer, type TestServer } from './helpers/server.ts';

const POISONS: { name: string; body: Record<string, unknown> }[] = [
  { name: 'runAt 1e19', body: { type: 'poison', runAt: 1e19 } },
  { name: 'U+0000 in the payload', body: { type: 'poison', payload: { text: 'a\u0000b' } } },
  { name: 'a lone surrogate in the payload', body: { type: 'poison', payload: { text: '\ud800' } } },
];

for (const backend of ['sqlite', 'postgres'] as const) {
  describe(`one bad submit among concurrent ones (${backend})`, () => {
    let s: TestServer | undefined;
    let schema: string | undefined;

    before(async (t) => {
      if (backend === 'postgres') {
        if (!(await requirePostgres(t as never))) return;
        schema = freshSchema('poison');
      }
      s = await startServer({ autoStart: false, ...(schema ? { store: storeUrl(schema) } : {}) });
    });
    after(async () => {
      await s?.close();
      if (schema) await dropSchema(schema);
    });

    for (const poison of POISONS) {
      it(`HTTP: 59 valid submits and one with ${poison.name}: only the bad one is refused, with a 4xx`, async (t) => {
        if (!s) return t.skip('no PostgreSQL');
        const server = s;
        const bodies = Array.from({ length: 60 }, (_, i) => (i === 30 ? poison.body : { type: 'ok', payload: { i } }));
        const answers = await Promise.all(
          bodies.map(async (body) => {
            const res = await server.request('POST', '/api/v1/tasks', body);
            return { status: res.status, text: await res.text() };
          }),
        );
        const bad = answers[30];
        const others = answers.filter((_, i) => i !== 30);
        const statuses = others.map((a) => a.status);
        assert.deepEqual(statuses, others.map(() => 202), `the 59 valid submits: ${JSON.stringify(others.filter((a) => a.status !== 202).slice(0, 3))}`);
        assert.equal(bad.status, 400, bad.text);
      });

      it(`SDK: 59 concurrent hub.submit calls and one with ${poison.name}`, async (t) => {
        if (!s) return t.skip('no PostgreSQL');
        const hub = s.hub;
        const settled = await Promise.allSettled(
          Array.from({ length: 60 }, (_, i) => (i === 30 ? hub.submit(poison.body as never) : hub.enqueue('ok', { i }))),
        );
        const failedOthers = settled.filter((r, i) => i !== 30 && r.status === 'rejected');
        assert.equal(failedOthers.length, 0, `the valid ones: ${failedOthers.map((r) => String((r as PromiseRejectedResult).reason)).slice(0, 2)}`);
        const bad = settled[30];
        assert.equal(bad.status, 'rejected');
        assert.equal(((bad as PromiseRejectedResult).reason as { code?: string }).code, 'VALIDATION');
      });
    }

    it('a bad result among concurrent completions fails only its own completion', async (t) => {
      if (!s) return t.skip('no PostgreSQL');
      const hub = s.hub;
      await Promise.all(Array.from({ length: 20 }, (_, i) => hub.enqueue('finish-me', { i })));
      const claims = await hub.attempts.claim({ workerId: 'w', types: ['finish-me'], max: 20 });
      assert.equal(claims.length, 20);
      const settled = await Promise.allSettled(
        claims.map((c, i) =>
          hub.attempts.complete({ taskId: c.task.id, attemptToken: c.attemptToken }, i === 7 ? { bad: 'x\u0000y' } : { ok: i }),
        ),
      );
      const failedOthers = settled.filter((r, i) => i !== 7 && r.status === 'rejected');
      assert.equal(failedOthers.length, 0, `the valid ones: ${failedOthers.map((r) => String((r as PromiseRejectedResult).reason)).slice(0, 2)}`);
      assert.equal(settled[7].status, 'rejected');
      assert.equal(((settled[7] as PromiseRejectedResult).reason as { code?: string }).code, 'VALIDATION');
      assert.equal((await hub.get(claims[7].task.id)).status, 'running', 'the refused completion changed nothing');
    });
  });
}

describe('a batch the database refuses (PostgreSQL), past the input rules', () => {
  it('is split down to the bad task: the others are stored, the bad one gets a ValidationError', async (t) => {
    if (!(await requirePostgres(t))) return;
    const schema = freshSchema('poison_db');
    const store = await openStore(storeUrl(schema));
    try {
      await store.migrate();
      const now = Date.now();
      const tasks = Array.from({ length: 60 }, (_, i) =>
        normalizeTaskSpec({ type: 'ok', payload: { i } }, DEFAULT_TASK_DEFAULTS, now, () => uuidv7(now)),
      );
      // What the input rules would refuse, sent to the store as if they had not: bigint overflow, U+0000 in jsonb.
      tasks[17].runAt = 1e19;
      (tasks[42] as { payload: unknown }).payload = { s: '\u0000' };
      const creates = new Coalescer((batch: NewTask[]) => store.createTasks(batch));
      const settled = await Promise.allSettled(tasks.map((task) => creates.submit(task)));
      for (const [i, outcome] of settled.entries()) {
        if (i === 17 || i === 42) {
          assert.equal(outcome.status, 'rejected');
          assert.ok((outcome as PromiseRejectedResult).reason instanceof ValidationError, String((outcome as PromiseRejectedResult).reason));
        } else assert.equal(outcome.status, 'fulfilled', String((outcome as PromiseRejectedResult).reason));
      }
      assert.equal((await store.listTasks({ limit: 1000 })).tasks.length, 58);
    } finally {
      await store.close();
      await dropSchema(schema);
    }
  });
});
