/** Fans out the ids of running tasks someone asked to cancel (in this process or another) to the workers here. */
export class CancelSignal {
  readonly #listeners = new Set<(taskId: string) => void>();

  on(listener: (taskId: string) => void): () => void {
    this.#listeners.add(listener);
    return () => this.#listeners.delete(listener);
  }

  emit(taskId: string): void {
    for (const listener of this.#listeners) listener(taskId);
  }
}
