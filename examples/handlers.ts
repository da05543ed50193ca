// An example handlers module: a simulated slow AI generation that reports progress and streams its text chunk by chunk.
// `taskhub worker --handlers ./examples/handlers.ts` and `npm start` load it.
import type { TaskContext } from 'taskhub';

interface TravelPlanPayload {
  city?: string;
  days?: number;
  /** Delay between generated chunks, ms (default 150): lower it in tests. */
  chunkDelayMs?: number;
}

const sleep = (ms: number, signal: AbortSignal) =>
  new Promise<void>((resolve, reject) => {
    const timer = setTimeout(resolve, ms);
    signal.addEventListener('abort', () => {
      clearTimeout(timer);
      reject(signal.reason);
    }, { once: true });
  });

export default {
  'travel-plan': async (payload: TravelPlanPayload, ctx: TaskContext) => {
    const city = payload.city ?? 'Shanghai';
    const days = payload.days ?? 3;
    const delay = payload.chunkDelayMs ?? 150;
    await ctx.progress({ percent: 5, message: 'calling the model', phase: 'prompt' });
    const words = `Day-by-day plan for ${city}:`.split(' ');
    for (let day = 1; day <= days; day++) words.push(`Day ${day}: a museum, a market, and dinner by the river.`);
    const chunks: string[] = [];
    for (const [i, word] of words.entries()) {
      await sleep(delay, ctx.signal);
      const chunk = `${word} `;
      chunks.push(chunk);
      await ctx.output(chunk);
      if (i % 3 === 2) await ctx.progress(Math.min(95, Math.round(((i + 1) / words.length) * 100)), 'generating', { words: i + 1 });
    }
    await ctx.progress({ percent: 100, message: 'done', phase: 'finish' });
    return { city, days, text: chunks.join('').trim() };
  },

  /** Fails on purpose: shows retries with backoff and the dead-letter set. */
  flaky: async (payload: { failTimes?: number }, ctx: TaskContext) => {
    if (ctx.attempt <= (payload.failTimes ?? 1)) throw new Error(`flaky failure on attempt ${ctx.attempt}`);
    return { attempt: ctx.attempt };
  },
};
