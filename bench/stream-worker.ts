// The worker process of `bench/stream.ts ... apart`: runs the streaming tasks on the server's store (the same SQLite
// file, or the same PostgreSQL schema), as `taskhub worker --handlers` would beside `taskhub serve`, and writes its
// timings to a file.
// usage (forked by bench/stream.ts): node bench/stream-worker.ts <sqlite:PATH|postgres:SCHEMA> TIMES_FILE T C
import { writeFileSync } from 'node:fs';
import pino from 'pino';
import { Taskhub } from '../src/index.ts';
import { PostgresStore } from '../src/store/postgres/postgres-store.ts';
import { PG_URL } from './bench-store.ts';
import { handleStream } from './stream-handler.ts';

const [store, timesFile, tArg, cArg] = process.argv.slice(2);
const hub = await Taskhub.open({
  store: store.startsWith('postgres:') ? new PostgresStore({ connectionString: PG_URL, schema: store.slice('postgres:'.length) }) : store,
  logger: pino({ level: 'silent' }),
});
const times = await handleStream(hub, Number(tArg), Number(cArg));
writeFileSync(timesFile, JSON.stringify(times));
await hub.close({ graceMs: 1000 });
process.exit(0);
