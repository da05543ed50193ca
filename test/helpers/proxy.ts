// A small HTTP reverse proxy for client tests: forwards every request to a Taskhub server, streaming both ways, and
// lets a test cut the live SSE connections (a dropped network) or serve extra routes (a page and its script).
import { createServer, request as httpRequest, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';

export interface SeenRequest {
  method: string;
  url: string;
  headers: IncomingMessage['headers'];
}

export interface TestProxy {
  url: string;
  /** Every request that reached the proxy, in order. */
  requests: SeenRequest[];
  /** Destroys every open connection of a /stream request, both sides, as a network failure would. */
  dropStreams(): number;
  close(): Promise<void>;
}

export type LocalRoute = (req: IncomingMessage, res: ServerResponse) => void | Promise<void>;

/** `routes` answers exact paths locally (GET only) instead of forwarding them. */
export async function startProxy(target: string, routes: Record<string, LocalRoute> = {}): Promise<TestProxy> {
  const upstream = new URL(target);
  const requests: SeenRequest[] = [];
  const streams = new Set<{ req: IncomingMessage; res: ServerResponse; up: ReturnType<typeof httpRequest> }>();

  const server: Server = createServer((req, res) => {
    requests.push({ method: req.method ?? 'GET', url: req.url ?? '/', headers: req.headers });
    const path = new URL(req.url ?? '/', 'http://x').pathname;
    const local = req.method === 'GET' ? routes[path] : undefined;
    if (local) {
      Promise.resolve(local(req, res)).catch((error: unknown) => {
        res.statusCode = 500;
        res.end(String(error));
      });
      return;
    }
    const up = httpRequest(
      { host: upstream.hostname, port: upstream.port, method: req.method, path: req.url, headers: { ...req.headers, host: upstream.host } },
      (upRes) => {
        res.writeHead(upRes.statusCode ?? 502, upRes.headers);
        upRes.pipe(res);
      },
    );
    up.on('error', () => res.destroy());
    req.pipe(up);
    if (path.endsWith('/stream')) {
      const entry = { req, res, up };
      streams.add(entry);
      res.on('close', () => {
        streams.delete(entry);
        up.destroy(); // the client went away: let the server see it too
      });
    }
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;

  return {
    url: `http://127.0.0.1:${port}`,
    requests,
    dropStreams() {
      const n = streams.size;
      for (const { req, res, up } of streams) {
        up.destroy();
        res.destroy();
        req.socket.destroy();
      }
      streams.clear();
      return n;
    },
    async close() {
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}
