import type { NoticeListener, StoreNotice } from '../store.ts';

/** Fans store notices out to listeners; a throwing listener never stops the others. Shared by every backend. */
export class NoticeHub {
  /**
   * Replaced, never changed in place, when a listener comes or goes: an emit under way keeps the list it started
   * with, and iterating an array makes no iterator object (emit runs for every notice, several per task).
   */
  #listeners: readonly NoticeListener[] = [];

  get size(): number {
    return this.#listeners.length;
  }

  /** A listener added twice is called once, and gone once either remover ran (as in a Set). */
  add(listener: NoticeListener): () => void {
    if (!this.#listeners.includes(listener)) this.#listeners = [...this.#listeners, listener];
    return () => {
      this.#listeners = this.#listeners.filter((l) => l !== listener);
    };
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
