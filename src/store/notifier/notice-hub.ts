import type { NoticeListener, StoreNotice } from '../store.ts';

/** Fans store notices out to listeners; a throwing listener never stops the others. Shared by every backend. */
export class NoticeHub {
  readonly #listeners = new Set<NoticeListener>();

  get size(): number {
    return this.#listeners.size;
  }

  add(listener: NoticeListener): () => void {
    this.#listeners.add(listener);
    return () => this.#listeners.delete(listener);
  }

  emit(notice: StoreNotice): void {
    for (const listener of this.#listeners) {
      try {
        listener(notice);
      } catch (error) {
        queueMicrotask(() => {
          throw error;
        });
      }
    }
  }
}
