// An example handlers module: a simulated slow AI generation that reports progress and streams its text chunk by chunk,
// and `design`, a durable design agent (checkpoints, children, an approval signal: docs/durable.md, run by
// examples/design-agent.ts). `taskhub worker --handlers ./examples/handlers.ts` and `npm start` load it.
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

// ---- the design agent (docs/durable.md; examples/design-agent.ts runs the whole flow) ----

const PHASES = ['brief', 'moodboard', 'layout', 'render'] as const;
type Phase = (typeof PHASES)[number];
const PERCENT: Record<Phase, number> = { brief: 10, moodboard: 30, layout: 50, render: 70 };

interface DesignPayload {
  prompt?: string;
  style?: string;
  layout?: string;
  /** Sizes to export, one child task each (default [1080, 1920, 4096]). */
  sizes?: number[];
  /** Wait for the `approval` signal before finishing (default true). */
  approval?: boolean;
  /** How long each phase "thinks", ms (default 400). */
  phaseMs?: number;
  /** The simulated render service fails this many times for this task (default 0). */
  renderFailures?: number;
}

/** What the agent saves after each phase: the outputs so far. A resumed run starts after the last phase saved. */
type DesignState = {
  brief?: string;
  moodboard?: { palette: string[]; references: string[] };
  layout?: { kind: string; grid: string };
  render?: { image: string; width: number; height: number };
};

/** A stand-in for a flaky external render service: failures left per task, in this process's memory. */
const renderFaults = new Map<string, number>();

function runPhase(phase: Phase, p: DesignPayload, s: DesignState): DesignState {
  const prompt = p.prompt ?? 'a poster';
  switch (phase) {
    case 'brief':
      return { ...s, brief: `${prompt}, in a ${p.style ?? 'clean'} style` };
    case 'moodboard':
      return { ...s, moodboard: { palette: ['#1f3a5f', '#f4d35e', '#ee964b'], references: [`${p.style ?? 'clean'} #1`, `${p.style ?? 'clean'} #2`] } };
    case 'layout':
      return { ...s, layout: { kind: p.layout ?? 'grid', grid: p.layout === 'hero' ? '1 hero + 2 cards' : '3 x 2' } };
    case 'render':
      return { ...s, render: { image: `render-${(p.layout ?? 'grid')}.png`, width: 1024, height: 1024 } };
  }
}

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

  /**
   * A durable design agent: brief → moodboard → layout → render, a checkpoint after each phase (a retry, a recover or
   * a derived task resumes after the last one saved), the exports fanned out as child tasks, then a wait for a
   * person's approval. While it waits for its children or the approval it is `waiting` and holds no worker slot.
   */
  design: async (payload: DesignPayload, ctx: TaskContext) => {
    const phaseMs = payload.phaseMs ?? 400;
    // Replay: on a resumed run the handler starts from the top with the latest saved state.
    let state = (ctx.lastCheckpoint?.state ?? {}) as DesignState;
    for (const phase of PHASES) {
      if (state[phase] !== undefined) continue; // saved by an earlier run: not run again
      await ctx.progress({ percent: PERCENT[phase], message: `${phase}: working`, phase });
      await sleep(phaseMs, ctx.signal);
      if (phase === 'render') {
        const left = renderFaults.get(ctx.taskId) ?? payload.renderFailures ?? 0;
        if (left > 0) {
          renderFaults.set(ctx.taskId, left - 1);
          throw new Error('render service timed out');
        }
      }
      state = runPhase(phase, payload, state);
      await ctx.checkpoint(state, { label: phase });
    }
    // Fan-out: one child task per export size; the parent waits without a slot and gets the results in order.
    await ctx.progress({ percent: 85, message: 'exporting sizes', phase: 'export' });
    const sizes = payload.sizes ?? [1080, 1920, 4096];
    const exports = await ctx.children<{ size: number; file: string }>(
      sizes.map((size) => ({ type: 'design-export', payload: { size, image: state.render?.image ?? null, phaseMs: Math.round(phaseMs / 2) } })),
      { name: 'exports' },
    );
    let approval: unknown = null;
    if (payload.approval !== false) {
      await ctx.progress({ percent: 90, message: 'waiting for approval', phase: 'approval' });
      approval = await ctx.waitForSignal('approval', { timeoutMs: 24 * 3600_000 });
    }
    await ctx.progress({ percent: 100, message: 'done', phase: 'done' });
    return { ...state, exports, approval };
  },

  /** One export of a design (a child task of `design`). */
  'design-export': async (payload: { size: number; image: string | null; phaseMs?: number }, ctx: TaskContext) => {
    await sleep(payload.phaseMs ?? 200, ctx.signal);
    return { size: payload.size, file: `${(payload.image ?? 'design.png').replace(/\.png$/, '')}@${payload.size}.png` };
  },
};
