// GET /metrics on a port of its own, for processes without the HTTP API (`taskhub worker --metrics-port`): they finish
// attempts too, and the runs they count must be scraped somewhere.
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { TaskMetrics } from './metrics.ts';

export async function serveMetrics(metrics: TaskMetrics, options: { host?: string; port: number }): Promise<{ url: string; close(): Promise<void> }> {
  metrics.enableProcessMetrics();
  const server = createServer((req, res) => {
    if (req.method !== 'GET' || new URL(req.url ?? '/', 'http://x').pathname !== '/metrics') {
      res.writeHead(404, { 'content-type': 'text/plain' }).end('only GET /metrics here\n');
      return;
    }
    metrics.exposition().then(
      ({ text, contentType }) => res.writeHead(200, { 'content-type': contentType }).end(text),
      (error: unknown) => res.writeHead(503, { 'content-type': 'text/plain' }).end(`metrics unavailable: ${(error as Error).message}\n`),
    );
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(options.port, options.host ?? '127.0.0.1', () => resolve());
  });
  const { address, port } = server.address() as AddressInfo;
  return {
    url: `http://${address.includes(':') ? `[${address}]` : address}:${port}/metrics`,
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
}
