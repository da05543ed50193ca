// Topic pub/sub over tasks: each durable subscription gets its own task per matching publish, all created in one
// transaction, so either every subscriber gets its copy or none does. Each copy then retries and dead-letters alone.
import { checkName } from '../core/validate.ts';
import { checkPattern, checkTopic, topicMatches } from '../core/topic.ts';
import type { Json, Task, TaskSpec } from '../core/task.ts';
import type { CreatedTask, Store, Subscription } from '../store/store.ts';

export interface PublishOptions {
  owner?: string;
  /** Publishing again with the same key creates no new copies (each copy's key is `key:subscription`). */
  idempotencyKey?: string;
  traceparent?: string;
}

export interface PublishResult {
  topic: string;
  /** One task per matching subscription; empty when nobody subscribes (not an error). */
  tasks: Task[];
}

/** What topics use: the subscriptions table, a clock, and the engine's all-or-nothing batch enqueue. */
export interface TopicsDeps {
  store: Pick<Store, 'listSubscriptions' | 'putSubscription' | 'deleteSubscription'>;
  now: () => number;
  enqueueMany: (specs: readonly TaskSpec[]) => Promise<CreatedTask[]>;
}

export class Topics {
  readonly #deps: TopicsDeps;
  /** Publishes that matched no subscription, for metrics. */
  unmatchedPublishes = 0;

  constructor(deps: TopicsDeps) {
    this.#deps = deps;
  }

  async publish(topic: string, payload: Json, options: PublishOptions = {}): Promise<PublishResult> {
    checkTopic(topic);
    const matching = (await this.#deps.store.listSubscriptions()).filter((s) => topicMatches(s.pattern, topic));
    if (matching.length === 0) {
      this.unmatchedPublishes++;
      return { topic, tasks: [] };
    }
    const created = await this.#deps.enqueueMany(
      matching.map((s) => ({
        type: s.type,
        queue: s.queue,
        payload,
        tags: { topic, subscription: s.name },
        ...(options.owner ? { owner: options.owner } : {}),
        ...(options.idempotencyKey ? { idempotencyKey: `${options.idempotencyKey}:${s.name}` } : {}),
        ...(options.traceparent ? { traceparent: options.traceparent } : {}),
      })),
    );
    return { topic, tasks: created.map((c) => c.task) };
  }

  async subscribe(name: string, pattern: string, target: { type: string; queue?: string }) {
    checkName('name', name);
    checkPattern(pattern);
    checkName('type', target.type);
    const queue = checkName('queue', target.queue ?? 'default');
    return this.#deps.store.putSubscription({ name, pattern, queue, type: target.type }, this.#deps.now());
  }

  unsubscribe(name: string): Promise<boolean> {
    return this.#deps.store.deleteSubscription(name);
  }

  list(): Promise<Subscription[]> {
    return this.#deps.store.listSubscriptions();
  }

  async get(name: string): Promise<Subscription | null> {
    return (await this.list()).find((s) => s.name === name) ?? null;
  }
}
