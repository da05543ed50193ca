// The streaming task of bench/stream.ts, run by its own process or by bench/stream-worker.ts: each task writes its
// chunks through ctx.output as fast as the worker allows, timing when each call returned.
import type { Taskhub, Worker } from '../src/index.ts';

export interface StreamTimes {
  /** returnedAt[task][chunk]: when ctx.output returned for that chunk (epoch ms, sub-ms resolution). */
  returnedAt: number[][];
  firstStart: number;
  lastReturn: number;
  /** This process's CPU from the first handler's start to the last handler's end (all threads). */
  cpu: NodeJS.CpuUsage;
}

const now = () => performance.timeOrigin + performance.now();

/** Registers the `stream` handler for `tasks` tasks of `chunks` chunks; resolves once every task returned. */
export function handleStream(hub: Pick<Taskhub | Worker, 'handle'>, tasks: number, chunks: number): Promise<StreamTimes> {
  const times: StreamTimes = {
    returnedAt: Array.from({ length: tasks }, () => new Array<number>(chunks).fill(0)),
    firstStart: Number.POSITIVE_INFINITY,
    lastReturn: 0,
    cpu: { user: 0, system: 0 },
  };
  let cpuAtStart: NodeJS.CpuUsage | undefined;
  let finished = 0;
  return new Promise((resolve) => {
    hub.handle('stream', async (payload: { i: number }, ctx) => {
      times.firstStart = Math.min(times.firstStart, now());
      cpuAtStart ??= process.cpuUsage();
      const returned = times.returnedAt[payload.i];
      for (let c = 0; c < chunks; c++) {
        await ctx.output(`t${payload.i} c${c} `.padEnd(40, 'x'));
        returned[c] = now();
      }
      times.lastReturn = Math.max(times.lastReturn, now());
      if (++finished === tasks) {
        times.cpu = process.cpuUsage(cpuAtStart);
        resolve(times);
      }
    }, { concurrency: tasks });
  });
}
