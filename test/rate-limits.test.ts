// Issue 14 point 7: each kind of call has its own budget. With `--rate-limit-submit 10/60000` the 11th call of any
// kind used to answer 429 (a cancel, say): submits, control calls (cancel, retry, delete, settings) and reads are
// counted apart, per token or per address, each with its flag and TASKHUB_* variable.
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { tempDir } from './helpers/hub.ts';
import { startService } from './helpers/processes.ts';
import { startServer } from './helpers/server.ts';

const CLI = join(import.meta.dirname, '..', 'bin', 'taskhub.js');
const tmp = tempDir();
after(() => tmp.remove());

interface Served {
  base: string;
  stop(): Promise<void>;
}

/** `taskhub serve` as a child process on a free port; resolves once it listens. */
async function serve(args: string[], env: Record<string, string> = {}): Promise<Served> {
  const service = startService(process.execPath, [CLI, 'serve', '--port', '0', '--log-level', 'warn', ...args], {
    cwd: tmp.dir,
    env: { ...process.env, TASKHUB_STORE: `sqlite:${join(tmp.dir, `serve-${Date.now()}-${Math.random()}.db`)}`, ...env },
  });
  const base = (await service.waitFor(/listening on (http:\/\/\S+)/))[1] as string;
  return {
    base,
    async stop() {
      await service.stop();
    },
  };
}

const post = (base: string, path: string, body: unknown = {}) =>
  fetch(base + path, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) });

describe('rate limits per kind of call', () => {
  it('taskhub serve --rate-limit-submit 10/60000: the 11th submit is refused, cancels and reads are not', async () => {
    const s = await serve(['--rate-limit-submit', '10/60000']);
    try {
      const ids: string[] = [];
      for (let i = 0; i < 10; i++) {
        const res = await post(s.base, '/api/v1/tasks', { type: 'x', delayMs: 60_000 });
        assert.equal(res.status, 202);
        ids.push(((await res.json()) as { id: string }).id);
      }
      const refused = await post(s.base, '/api/v1/tasks', { type: 'x' });
      assert.equal(refused.status, 429);
      assert.match(((await refused.json()) as { detail: string }).detail, /too many submits: at most 10 per 60 s/);
      // The reproduction of the issue: this cancel was the 11th call of the submit budget, and answered 429.
      const cancel = await post(s.base, `/api/v1/tasks/${ids[0]}/cancel`);
      assert.equal(cancel.status, 200, await cancel.clone().text());
      assert.equal((await post(s.base, `/api/v1/tasks/${ids[0]}/retry`)).status, 200);
      for (const id of ids) assert.equal((await fetch(`${s.base}/api/v1/tasks/${id}`)).status, 200);
    } finally {
      await s.stop();
    }
  });

  it('TASKHUB_RATE_LIMIT_CONTROL and TASKHUB_RATE_LIMIT_READ give control calls and reads budgets of their own', async () => {
    const s = await serve([], { TASKHUB_RATE_LIMIT_SUBMIT: '10/60000', TASKHUB_RATE_LIMIT_CONTROL: '2/60000', TASKHUB_RATE_LIMIT_READ: '100/60000' });
    try {
      const ids: string[] = [];
      for (let i = 0; i < 3; i++) ids.push(((await (await post(s.base, '/api/v1/tasks', { type: 'x', delayMs: 60_000 })).json()) as { id: string }).id);
      assert.equal((await post(s.base, `/api/v1/tasks/${ids[0]}/cancel`)).status, 200);
      assert.equal((await post(s.base, `/api/v1/tasks/${ids[1]}/cancel`)).status, 200);
      const third = await post(s.base, `/api/v1/tasks/${ids[2]}/cancel`);
      assert.equal(third.status, 429);
      assert.match(((await third.json()) as { detail: string }).detail, /too many changes: at most 2 per 60 s/);
      assert.equal((await post(s.base, '/api/v1/tasks', { type: 'x' })).status, 202, 'submits keep their own budget');
      for (let i = 0; i < 100; i++) assert.equal((await fetch(`${s.base}/api/v1/tasks/${ids[2]}`)).status, 200);
      assert.equal((await fetch(`${s.base}/api/v1/tasks/${ids[2]}`)).status, 429, 'the 101st read');
    } finally {
      await s.stop();
    }
  });

  it('counts each bucket per token', async () => {
    const s = await startServer({ autoStart: false }, { rateLimits: { submit: { max: 1, windowMs: 60_000 }, control: { max: 1, windowMs: 60_000 } } });
    try {
      const created = await s.request('POST', '/api/v1/tasks', { type: 'x', delayMs: 60_000 });
      assert.equal(created.status, 202);
      const { id } = (await created.json()) as { id: string };
      assert.equal((await s.request('POST', '/api/v1/tasks', { type: 'x' })).status, 429);
      assert.equal((await s.request('POST', `/api/v1/tasks/${id}/cancel`)).status, 200);
      assert.equal((await s.request('DELETE', `/api/v1/tasks/${id}`)).status, 429, 'a delete is a control call');
      assert.equal((await s.request('GET', `/api/v1/tasks/${id}`)).status, 200, 'reads are unlimited here');
    } finally {
      await s.close();
    }
  });
});
