// Long-lived requests: SSE streams and WebSockets, counted by kind for the `taskhub_stream_connections{kind}` gauge of
// /metrics, and long-polls; all remembered so that closing the server ends them instead of waiting for them.

export type StreamKind = 'sse' | 'ws';

export class StreamConnections {
  readonly #open: Record<StreamKind, number> = { sse: 0, ws: 0 };
  readonly #stops = new Set<() => void>();

  /** Remembers a long request; `stop` ends it when the server closes. Call the returned function when it is over. */
  track(stop: () => void): () => void {
    this.#stops.add(stop);
    return () => this.#stops.delete(stop);
  }

  /** Counts a stream as open and tracks it; call the returned function (idempotent) once it has closed. */
  opened(kind: StreamKind, stop: () => void): () => void {
    this.#open[kind]++;
    const untrack = this.track(stop);
    let closed = false;
    return () => {
      if (closed) return;
      closed = true;
      this.#open[kind]--;
      untrack();
    };
  }

  count(kind: StreamKind): number {
    return this.#open[kind];
  }

  snapshot(): Record<StreamKind, number> {
    return { ...this.#open };
  }

  /** Ends every tracked request (server shutdown). */
  stopAll(): void {
    for (const stop of [...this.#stops]) stop();
  }
}
