import type { ListenOptions, NoticeListener, StoreNotice } from '../store.ts';

type Wants = NonNullable<ListenOptions['wantsStartsAndCompletions']>;
const ALWAYS: Wants = () => true;

/** Fans store notices out to listeners; a throwing listener never stops the others. Shared by every backend. */
export class NoticeHub {
  /**
   * Replaced, never changed in place, when a listener comes or goes: an emit under way keeps the list it started
   * with, and iterating an array makes no iterator object (emit runs for every notice, several per task).
   */
  #listeners: readonly NoticeListener[] = [];
  /** What each listener says of start and completion notices, in the order of #listeners. */
  #wants: readonly Wants[] = [];

  get size(): number {
    return this.#listeners.length;
  }

  /** A listener added twice is called once, and gone once either remover ran (as in a Set). */
  add(listener: NoticeListener, options: ListenOptions = {}): () => void {
    if (!this.#listeners.includes(listener)) {
      this.#listeners = [...this.#listeners, listener];
      this.#wants = [...this.#wants, options.wantsStartsAndCompletions ?? ALWAYS];
    }
    return () => {
      const at = this.#listeners.indexOf(listener);
      if (at < 0) return;
      this.#listeners = this.#listeners.filter((_, i) => i !== at);
      this.#wants = this.#wants.filter((_, i) => i !== at);
    };
  }

  /** Whether a listener wants the notices of attempts starting and completing now (ListenOptions). */
  wantsStartsAndCompletions(): boolean {
    const wants = this.#wants;
    for (let i = 0; i < wants.length; i++) if (wants[i]()) return true;
    return false;
  }

  emit(notice: StoreNotice): void {
    const listeners = this.#listeners;
    for (let i = 0; i < listeners.length; i++) {
      try {
        listeners[i](notice);
      } catch (error) {
        queueMicrotask(() => {
          throw error;
        });
      }
    }
  }
}
