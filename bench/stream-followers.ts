// The follower side of bench/stream.ts: one SSE connection per task, opened before the tasks start; records when
// each output chunk arrived and whether chunks came once and in order, and writes it all to a file at the end.
// usage (forked by bench/stream.ts): node bench/stream-followers.ts BASE_URL RESULTS_FILE CHUNKS ID...
import { writeFileSync } from 'node:fs';
import http from 'node:http';

const [base, resultsFile, chunksArg, ...ids] = process.argv.slice(2);
const CHUNKS = Number(chunksArg);
const agent = new http.Agent({ keepAlive: true, maxSockets: Number.POSITIVE_INFINITY });
const now = () => performance.timeOrigin + performance.now();
const arrivedAt = ids.map(() => new Array<number>(CHUNKS).fill(Number.NaN));
const problems: string[] = [];
let ended = 0;

function follow(t: number): Promise<void> {
  return new Promise((connected, failed) => {
    let next = 0;
    let buffer = '';
    const request = http.get(`${base}/api/v1/tasks/${ids[t]}/stream`, { agent }, (res) => {
      connected();
      res.setEncoding('utf8');
      res.on('data', (text: string) => {
        buffer += text;
        const frames = buffer.split('\n\n');
        buffer = frames.pop() ?? '';
        for (const frame of frames) {
          if (!frame.includes('event: output')) continue;
          const c = Number(/"chunk":"t\d+ c(\d+) /.exec(frame)?.[1]);
          if (c !== next) problems.push(`task ${t}: chunk ${c} arrived when ${next} was expected`);
          next = c + 1;
          if (Number.isNaN(arrivedAt[t][c])) arrivedAt[t][c] = now();
        }
      });
      res.on('end', () => {
        if (next !== CHUNKS) problems.push(`task ${t}: stream ended after ${next} chunks`);
        if (++ended === ids.length) {
          writeFileSync(resultsFile, JSON.stringify({ arrivedAt, problems }));
          process.exit(0);
        }
      });
    });
    request.on('error', failed);
  });
}

for (let i = 0; i < ids.length; i += 250) await Promise.all(ids.slice(i, i + 250).map((_, k) => follow(i + k)));
process.send?.({ connected: true });
