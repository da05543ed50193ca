// Submits a travel plan to a running server (`npm start` in another terminal) and follows it live over SSE.
// usage: node examples/follow.ts [city] [url]   (npm run example)
import { TaskhubClient } from 'taskhub/client';

const [city = 'Shanghai', url = process.env.TASKHUB_URL ?? 'http://127.0.0.1:8080'] = process.argv.slice(2);
const client = new TaskhubClient({ url, ...(process.env.TASKHUB_TOKEN ? { token: process.env.TASKHUB_TOKEN } : {}) });
const task = await client.submit('travel-plan', { city, chunkDelayMs: 60 });
console.log(`submitted ${task.id}`);
for await (const event of client.follow(task.id)) {
  const data = (event.data ?? {}) as { chunk?: string; percent?: number; message?: string };
  if (event.kind === 'output') process.stdout.write(data.chunk ?? '');
  else if (event.kind === 'progress') process.stdout.write(`\n[${data.percent}% ${data.message ?? ''}]\n`);
  else process.stdout.write(`\n<${event.kind}>\n`);
}
const done = await client.result(task.id, { timeoutMs: 60_000 });
console.log(`\nresult: ${JSON.stringify(done.result)}`);
