// A Taskhub HTTP server on an ephemeral port over a fresh SQLite file, and small readers for its answers.
import type { AddressInfo } from 'node:net';
import type { TaskhubOptions } from '../../src/index.ts';
import { createServer, type ServerOptions } from '../../src/server/server.ts';
import { openTestHub } from './hub.ts';

export type TestHub = Awaited<ReturnType<typeof openTestHub>>;
export type TestApp = Awaited<ReturnType<typeof createServer>>;

export interface TestServer {
  hub: TestHub;
  app: TestApp;
  base: string;
  /** fetch(base + path) with a JSON body when `body` is given. */
  request(method: string, path: string, body?: unknown, headers?: Record<string, string>): Promise<Response>;
  close(): Promise<void>;
}

export async function startServer(
  hubOptions: TaskhubOptions = {},
  serverOptions: Omit<ServerOptions, 'hub'> = {},
): Promise<TestServer> {
  const hub = await openTestHub(hubOptions);
  const app = await createServer({ hub, logger: false, ...serverOptions });
  await app.listen({ port: 0, host: '127.0.0.1' });
  const base = `http://127.0.0.1:${(app.server.address() as AddressInfo).port}`;
  return {
    hub,
    app,
    base,
    request: (method, path, body, headers = {}) =>
      fetch(base + path, {
        method,
        headers: body === undefined ? headers : { 'content-type': 'application/json', ...headers },
        body: body === undefined ? undefined : typeof body === 'string' ? body : JSON.stringify(body),
      }),
    async close() {
      await app.close();
      await hub.dispose();
    },
  };
}

export interface SseEvent {
  id: string | undefined;
  event: string | undefined;
  data: string;
}

/** Reads a text/event-stream body frame by frame; comment lines come out as `{ comment }`. */
export async function* sseFrames(body: ReadableStream<Uint8Array>): AsyncGenerator<SseEvent | { comment: string }> {
  const decoder = new TextDecoder();
  const reader = body.getReader();
  let buffer = '';
  try {
    for (;;) {
      const { done, value } = await reader.read();
      if (done) return;
      buffer += decoder.decode(value, { stream: true });
      let end: number;
      while ((end = buffer.indexOf('\n\n')) >= 0) {
        const block = buffer.slice(0, end);
        buffer = buffer.slice(end + 2);
        const frame: SseEvent = { id: undefined, event: undefined, data: '' };
        let comment: string | undefined;
        for (const line of block.split('\n')) {
          if (line.startsWith(':')) comment = line.slice(1).trim();
          else if (line.startsWith('id: ')) frame.id = line.slice(4);
          else if (line.startsWith('event: ')) frame.event = line.slice(7);
          else if (line.startsWith('data: ')) frame.data += line.slice(6);
        }
        yield comment !== undefined && frame.data === '' ? { comment } : frame;
      }
    }
  } finally {
    // A reader that stops early closes the connection, as a client that goes away would.
    await reader.cancel().catch(() => {});
  }
}

/** A promise with its resolve function, for handlers that wait for the test to let them go on. */
export function gate(): { promise: Promise<void>; open(): void } {
  let open!: () => void;
  const promise = new Promise<void>((resolve) => {
    open = resolve;
  });
  return { promise, open };
}

export const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));
