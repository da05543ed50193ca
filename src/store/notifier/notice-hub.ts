import type { ListenOptions, NoticeListener, StoreNotice } from '../store.ts';

type Wants = NonNullable<ListenOptions['wantsStartsAndCompletions']>;
const ALWAYS: Wants = () => true;

/** An error thrown where nobody awaits it: surfaces as an uncaught exception, after the caller went on. */
function rethrowLater(error: unknown): void {
  queueMicrotask(() => {
    throw error;
  });
}

/** Fans store notices out to listeners; a throwing listener never stops the others. Shared by every backend. */
export class NoticeHub {
  /** Where a listener's error goes (the listener and the other listeners go on). */
  readonly #onListenerError: (error: unknown) => void;

  constructor(onListenerError: (error: unknown) => void = rethrowLater) {
    this.#onListenerError = onListenerError;
  }

  /**
   * Replaced, never changed in place, when a listener comes or goes: an emit under way keeps the list it started
   * with, and iterating an array makes no iterator object (emit runs for every notice, several per task).
   */
  #listeners: readonly { listener: NoticeListener; wants: Wants }[] = [];

  get size(): number {
    return this.#listeners.length;
  }

  /**
   * A listener added twice is called once, and gone once either remover ran (as in a Set); it wants start and
   * completion notices whenever either addition's options say so.
   */
  add(listener: NoticeListener, options: ListenOptions = {}): () => void {
    const wants = options.wantsStartsAndCompletions ?? ALWAYS;
    const added = this.#listeners.find((l) => l.listener === listener);
    this.#listeners = added
      ? this.#listeners.map((l) => (l === added ? { listener, wants: () => added.wants() || wants() } : l))
      : [...this.#listeners, { listener, wants }];
    return () => {
      this.#listeners = this.#listeners.filter((l) => l.listener !== listener);
    };
  }

  /** Whether a listener wants the notices of attempts starting and completing now (ListenOptions). */
  wantsStartsAndCompletions(): boolean {
    const listeners = this.#listeners;
    for (let i = 0; i < listeners.length; i++) {
      try {
        if (listeners[i].wants()) return true;
      } catch (error) {
        // A listener's mistake must not fail the claim or finish that asks (on PostgreSQL, one already committed):
        // it gets the notices, and the error goes where emit's do.
        this.#onListenerError(error);
        return true;
      }
    }
    return false;
  }

  emit(notice: StoreNotice): void {
    const listeners = this.#listeners;
    for (let i = 0; i < listeners.length; i++) {
      try {
        listeners[i].listener(notice);
      } catch (error) {
        this.#onListenerError(error);
      }
    }
  }
}
