// The follower side of bench/http.ts sse: opens N SSE connections to one task's stream (in batches, so the
// server's accept queue keeps up), tells the parent when all are open, and reports what arrived when.
// usage (forked by bench/http.ts): node bench/sse-followers.ts URL N
import http from 'node:http';

const [url, nArg] = process.argv.slice(2);
const followers = Number(nArg);
const agent = new http.Agent({ keepAlive: true, maxSockets: Number.POSITIVE_INFINITY });
const now = () => performance.timeOrigin + performance.now();
const lastArrival: Record<string, number> = {};
let received = 0;
let ended = 0;

function follow(): Promise<void> {
  return new Promise((connected, failed) => {
    const request = http.get(url, { agent }, (res) => {
      connected();
      res.setEncoding('utf8');
      res.on('data', (chunk: string) => {
        for (const match of chunk.matchAll(/event: progress\ndata: .*"percent":(\d+)/g)) {
          received++;
          lastArrival[match[1]] = now();
        }
      });
      res.on('end', () => {
        if (++ended === followers) {
          process.send?.({ received, lastArrival });
          setTimeout(() => process.exit(0), 100);
        }
      });
    });
    request.on('error', failed);
  });
}

for (let i = 0; i < followers; i += 500) {
  await Promise.all(Array.from({ length: Math.min(500, followers - i) }, follow));
}
process.send?.({ connected: true });
