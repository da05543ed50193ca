// The worker process of `bench/stream.ts ... apart|remote`: runs the streaming tasks on the server's store (the same
// SQLite file, or the same PostgreSQL schema), as `taskhub worker --handlers` would beside `taskhub serve`, or through
// the server's HTTP worker protocol (a URL), as `taskhub worker --url` would; writes its timings to a file.
// usage (forked by bench/stream.ts): node bench/stream-worker.ts <sqlite:PATH|postgres:SCHEMA|URL> TIMES_FILE T C
import { writeFileSync } from 'node:fs';
import pino from 'pino';
import { Taskhub, Worker } from '../src/index.ts';
import { HttpWorkerBackend } from '../src/worker/http-backend.ts';
import { PostgresStore } from '../src/store/postgres/postgres-store.ts';
import { PG_URL } from './bench-store.ts';
import { handleStream } from './stream-handler.ts';

const [store, timesFile, tArg, cArg] = process.argv.slice(2);
const [tasks, chunks] = [Number(tArg), Number(cArg)];
const logger = pino({ level: 'silent' });
if (store.startsWith('http')) {
  const worker = new Worker(new HttpWorkerBackend({ url: store }), { logger });
  const streamed = handleStream(worker, tasks, chunks);
  worker.start();
  writeFileSync(timesFile, JSON.stringify(await streamed));
  await worker.stop();
} else {
  const hub = await Taskhub.open({
    store: store.startsWith('postgres:') ? new PostgresStore({ connectionString: PG_URL, schema: store.slice('postgres:'.length) }) : store,
    logger,
  });
  writeFileSync(timesFile, JSON.stringify(await handleStream(hub, tasks, chunks)));
  await hub.close({ graceMs: 1000 });
}
process.exit(0);
