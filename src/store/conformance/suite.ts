// One set of tests, written against the Store contract only, that every backend runs unchanged against its real
// database. A backend is done when this passes.
import { after, before, describe } from 'node:test';
import type { Store } from '../store.ts';
import { completionTests } from './completions.ts';
import { coordinationTests } from './coordination.ts';
import { durableTests } from './durable.ts';
import { flowLimitTests } from './flow-limits.ts';
import { flowTests } from './flow.ts';
import type { ConformanceTarget } from './helpers.ts';
import { historyTests } from './histories.ts';
import { taskIdTests } from './task-ids.ts';
import { taskLifeTests } from './task-life.ts';

export type { ConformanceTarget } from './helpers.ts';

export function storeConformance(name: string, target: ConformanceTarget): void {
  describe(`Store conformance: ${name}`, () => {
    let store: Store;
    before(async () => {
      store = await target.open();
    });
    after(async () => {
      await store.close();
      await target.cleanup();
    });

    // Each test uses its own task type, so tests share one database without seeing each other's tasks.
    let typeCounter = 0;
    const freshType = () => `t${++typeCounter}-${Math.random().toString(36).slice(2, 8)}`;

    const suite = { target, store: () => store, freshType };
    taskLifeTests(suite);
    completionTests(suite);
    coordinationTests(suite);
    durableTests(suite);
    flowTests(suite);
    flowLimitTests(suite);
    historyTests(suite);
    taskIdTests(suite);
  });
}
