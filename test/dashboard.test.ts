// The dashboard in a real Chromium against a real server on a SQLite file: a task submitted through the API appears
// without a reload, its page shows the progress reach 100% and the streamed text; a hanging task is cancelled and a
// failed one retried from the UI; under auth the page asks for an admin token and keeps it out of every URL.
// Screenshots (1280x800 and phone size) go to artifacts/.
import assert from 'node:assert/strict';
import { mkdirSync } from 'node:fs';
import { after, before, describe, it } from 'node:test';
import type { Browser, Page } from 'playwright-core';
import { uuidv7 } from '../src/core/ids.ts';
import { DEFAULT_TASK_DEFAULTS, normalizeTaskSpec } from '../src/core/validate.ts';
import { type Task, unstable_openStore } from '../src/index.ts';
import { createApiKey } from '../src/server/auth.ts';
import { browserRequired, CHROMIUM, chromiumMissing, launchChromium } from './helpers/browser.ts';
import { startServer, type TestServer } from './helpers/server.ts';

const ARTIFACTS = new URL('../artifacts/', import.meta.url);
const required = browserRequired;
const missing = chromiumMissing;
const DESKTOP = { width: 1280, height: 800 };
const PHONE = { width: 390, height: 844 };
const STEPS = 12;

const shot = (page: Page, name: string) => page.screenshot({ path: new URL(`dashboard-${name}.png`, ARTIFACTS).pathname, fullPage: true });

/** A page that records console errors, failed requests and every URL it asks for. */
async function openPage(browser: Browser, viewport: { width: number; height: number }) {
  const page = await browser.newPage({ viewport });
  const problems: string[] = [];
  const urls: string[] = [];
  page.on('pageerror', (error) => problems.push(`pageerror: ${error.message}`));
  page.on('console', (message) => {
    if (message.type() === 'error') problems.push(`console: ${message.text()}`);
  });
  page.on('request', (request) => urls.push(request.url()));
  return { page, problems, urls };
}

const text = (page: Page, selector: string) => page.evaluate((s) => document.querySelector(s)?.textContent ?? null, selector);

if (missing && required) {
  describe('dashboard', () => {
    it('needs Chromium', () => {
      assert.fail(`${CHROMIUM} is missing (CI or TASKHUB_REQUIRE_SERVICES is set): apt-get install -y chromium`);
    });
  });
} else {
  describe('dashboard', { skip: missing ? `${CHROMIUM} is missing: apt-get install -y chromium to run the browser tests` : false }, () => {
    let s: TestServer;
    let browser: Browser;
    const failedOnce = new Set<string>();

    const submit = async (body: object): Promise<Task> => {
      const res = await s.request('POST', '/api/v1/tasks', body);
      assert.equal(res.status, 202, await res.clone().text());
      return (await res.json()) as Task;
    };

    before(async () => {
      mkdirSync(ARTIFACTS, { recursive: true });
      s = await startServer({ worker: { pollIntervalMs: 20 } }, { sseHeartbeatMs: 1000 });
      s.hub.handle('story', async (payload: { stepMs?: number } | null, ctx) => {
        for (let i = 1; i <= STEPS; i++) {
          await new Promise((resolve) => setTimeout(resolve, payload?.stepMs ?? 150));
          await ctx.output(`Line ${i} of the story.\n`);
          await ctx.progress(Math.round((i / STEPS) * 100), i === STEPS ? 'done' : `writing line ${i + 1}`);
        }
        return { lines: STEPS };
      });
      s.hub.handle('hang', (_payload, ctx) => new Promise((resolve) => ctx.signal.addEventListener('abort', resolve)));
      s.hub.handle('fickle', async (_payload, ctx) => {
        if (!failedOnce.has(ctx.taskId)) {
          failedOnce.add(ctx.taskId);
          throw new Error('fickle failure: the first run of each task fails');
        }
        return 'fine the second time';
      });
      browser = await launchChromium();
    });

    after(async () => {
      await browser?.close();
      await s?.close();
    });

    it('shows a new task without a reload, then its progress to 100% and its streamed output', async () => {
      const { page, problems } = await openPage(browser, DESKTOP);
      await page.goto(`${s.base}/dashboard#/tasks`);
      await page.waitForFunction(() => document.querySelector('.live')?.getAttribute('data-state') === 'live', undefined, { timeout: 10_000 });
      await page.waitForFunction(() => document.body.textContent?.includes('No tasks match.'), undefined, { timeout: 10_000 });
      await page.evaluate(() => {
        (window as unknown as { __sameDocument: boolean }).__sameDocument = true;
      });

      const task = await submit({ type: 'story', queue: 'stories', tags: { team: 'docs' } });
      await page.waitForSelector(`tr[data-task-id="${task.id}"]`, { timeout: 10_000 });
      assert.equal(await page.evaluate(() => (window as unknown as { __sameDocument?: boolean }).__sameDocument), true, 'the row came without a reload');

      await page.click(`tr[data-task-id="${task.id}"]`);
      assert.equal(new URL(page.url()).hash, `#/tasks/${task.id}`);
      // Live: a figure strictly between 0 and 100 while it runs, with some text already out.
      await page.waitForFunction(() => {
        const percent = Number.parseInt(document.querySelector('[data-testid=percent]')?.textContent ?? '0', 10);
        return percent > 0 && percent < 100 && (document.querySelector('[data-testid=output]')?.textContent ?? '').length > 0;
      }, undefined, { timeout: 10_000 });
      await shot(page, 'task-running-1280');
      await page.waitForFunction(() => document.querySelector('[data-testid=percent]')?.textContent === '100%', undefined, { timeout: 15_000 });
      await page.waitForFunction(() => document.querySelector('.task-title .pill')?.textContent === 'completed', undefined, { timeout: 10_000 });
      const output = (await text(page, '[data-testid=output]')) ?? '';
      assert.equal(output, Array.from({ length: STEPS }, (_, i) => `Line ${i + 1} of the story.\n`).join(''));
      assert.equal(await page.evaluate(() => (document.querySelector('[role=progressbar] span') as HTMLElement | null)?.style.width), '100%');
      assert.match((await text(page, '.timeline')) ?? '', /completed/);
      await page.waitForSelector('[data-testid=result]');
      assert.match((await text(page, '[data-testid=result] pre')) ?? '', /"lines": 12/);
      await shot(page, 'task-completed-1280');
      assert.deepEqual(problems, []);
      await page.close();
    });

    it('cancels a hanging task and retries a failed one from the UI', async () => {
      const { page, problems } = await openPage(browser, DESKTOP);
      const hang = await submit({ type: 'hang', queue: 'slow' });
      await page.goto(`${s.base}/dashboard#/tasks/${hang.id}`);
      await page.waitForFunction(() => document.querySelector('.task-title .pill')?.textContent === 'running', undefined, { timeout: 10_000 });
      await page.click('button[data-action=cancel]');
      await page.waitForSelector('dialog.confirm[open]');
      await page.click('dialog.confirm button[data-action=confirm]');
      await page.waitForFunction(() => document.querySelector('.task-title .pill')?.textContent === 'cancelled', undefined, { timeout: 10_000 });
      assert.equal((await s.hub.get(hang.id)).status, 'cancelled');

      const fickle = await submit({ type: 'fickle', queue: 'jobs', maxAttempts: 1 });
      await page.evaluate((id) => {
        location.hash = `#/tasks/${id}`;
      }, fickle.id);
      await page.waitForFunction(() => document.querySelector('.task-title .pill')?.textContent === 'failed', undefined, { timeout: 10_000 });
      await page.waitForFunction(() => (document.querySelector('[data-testid=error]')?.textContent ?? '').includes('fickle failure'), undefined, { timeout: 5000 });
      assert.match((await text(page, '[data-testid=error] pre.stack')) ?? '', /Error: fickle failure[\s\S]*at /, 'the error shows its stack');
      await shot(page, 'task-failed-1280');
      await page.click('button[data-action=retry]');
      await page.waitForFunction(() => document.querySelector('.task-title .pill')?.textContent === 'completed', undefined, { timeout: 10_000 });
      const retried = await s.hub.get(fickle.id);
      assert.equal(retried.status, 'completed');
      assert.equal(retried.result, 'fine the second time');
      assert.deepEqual(problems, []);
      await page.close();
    });

    it('retries every failed task of a queue, and deletes a task', async () => {
      const { page, problems } = await openPage(browser, DESKTOP);
      const doomed = await Promise.all([1, 2, 3].map(() => submit({ type: 'fickle', queue: 'redrive', maxAttempts: 1 })));
      for (const t of doomed) {
        for (let i = 0; i < 200 && (await s.hub.get(t.id)).status !== 'failed'; i++) await new Promise((resolve) => setTimeout(resolve, 20));
      }
      await page.goto(`${s.base}/dashboard#/`);
      await page.waitForSelector('tr[data-queue="redrive"] button[data-action=redrive]', { timeout: 10_000 });
      await page.click('tr[data-queue="redrive"] button[data-action=redrive]');
      await page.click('dialog.confirm button[data-action=confirm]');
      await page.waitForFunction(() => document.querySelector('.toasts')?.textContent?.includes('3 tasks of redrive back in the queue'), undefined, { timeout: 10_000 });
      for (const t of doomed) {
        for (let i = 0; i < 200 && (await s.hub.get(t.id)).status !== 'completed'; i++) await new Promise((resolve) => setTimeout(resolve, 20));
        assert.equal((await s.hub.get(t.id)).status, 'completed');
      }

      await page.evaluate((id) => {
        location.hash = `#/tasks/${id}`;
      }, doomed[0].id);
      await page.waitForSelector('button[data-action=delete]');
      await page.click('button[data-action=delete]');
      await page.click('dialog.confirm button[data-action=confirm]');
      await page.waitForFunction(() => location.hash === '#/tasks', undefined, { timeout: 5000 });
      assert.equal((await s.request('GET', `/api/v1/tasks/${doomed[0].id}`)).status, 404);
      assert.deepEqual(problems, []);
      await page.close();
    });

    it('shows a waiting task, what it waits for, its checkpoints and its lineage both ways, and cancels it', async () => {
      // The worker side plays through a store on the same file: claim, checkpoints, then a wait for two children.
      const store = await unstable_openStore(`sqlite:${s.hub.dbPath}`);
      try {
        const parent = await submit({ type: 'assemble', queue: 'books' });
        const [claim] = await store.claim({ workerId: 'ui-test', types: ['assemble'], queues: null, max: 1, leaseMs: 30_000, now: Date.now() });
        const ref = { taskId: parent.id, attemptToken: claim.attemptToken };
        await store.saveCheckpoint(ref, { chapters: 1 }, { label: 'outline', size: 14 }, Date.now());
        await store.saveCheckpoint(ref, { chapters: 2 }, { label: 'draft', size: 14 }, Date.now());
        const now = Date.now();
        const kids = [1, 2].map((i) => normalizeTaskSpec({ type: 'chapter', queue: 'books', payload: { i } }, DEFAULT_TASK_DEFAULTS, now, () => uuidv7(now)));
        await store.suspend(ref, { kind: 'children', name: 'chapters', tasks: kids }, now);

        const { page, problems } = await openPage(browser, DESKTOP);
        await page.goto(`${s.base}/dashboard#/tasks?status=waiting`);
        await page.waitForSelector(`tr[data-task-id="${parent.id}"] [data-testid=waits-for]`, { timeout: 10_000 });
        assert.equal(await text(page, `tr[data-task-id="${parent.id}"] [data-testid=waits-for]`), 'children "chapters": 0 of 2 done');
        await page.click(`tr[data-task-id="${parent.id}"]`);
        await page.waitForFunction(() => document.querySelector('.task-title .pill')?.textContent === 'waiting', undefined, { timeout: 10_000 });
        assert.equal(await text(page, '.task-title [data-testid=waits-for]'), 'waits for children "chapters": 0 of 2 done');
        await page.waitForSelector('[data-testid=lineage]:not([hidden]) .lineage li', { timeout: 10_000 });
        await page.waitForSelector('[data-testid=checkpoints]:not([hidden])', { timeout: 10_000 });
        const checkpoints = (await text(page, '[data-testid=checkpoints] table')) ?? '';
        assert.match(checkpoints, /v2draft14 B.*v1outline14 B/);
        const lineage = await page.evaluate(() => [...document.querySelectorAll('[data-testid=lineage] .lineage li')].map((li) => li.textContent));
        assert.deepEqual(lineage, kids.map((k) => `queued${k.id}chapter`));
        assert.match((await text(page, '.timeline')) ?? '', /waiting.*waits for children "chapters"/);
        await shot(page, 'task-waiting-1280');

        // Down to a child, and up again by its parent link.
        await page.click(`[data-testid=lineage] a[href="#/tasks/${kids[0].id}"]`);
        await page.waitForSelector(`[data-testid=parent][href="#/tasks/${parent.id}"]`, { timeout: 10_000 });
        await page.click('[data-testid=parent]');
        await page.waitForFunction(() => document.querySelector('.task-title .pill')?.textContent === 'waiting', undefined, { timeout: 10_000 });

        await page.click('button[data-action=cancel]');
        await page.click('dialog.confirm button[data-action=confirm]');
        await page.waitForFunction(() => document.querySelector('.task-title .pill')?.textContent === 'cancelled', undefined, { timeout: 10_000 });
        await page.waitForFunction(() => [...document.querySelectorAll('[data-testid=lineage] .pill')].every((p) => p.textContent === 'cancelled'), undefined, { timeout: 10_000 });
        for (const k of kids) assert.equal((await s.hub.get(k.id)).status, 'cancelled');
        assert.deepEqual(problems, []);
        await page.close();
      } finally {
        await store.close();
      }
    });

    it('shows what flow control holds back on the overview, and a task\'s throttle and cost', async () => {
      const throttle = { key: 'slowpoke', limit: 1, periodMs: 600_000 };
      const tasks = await Promise.all([1, 2, 3].map(() => submit({ type: 'story', queue: 'throttled', throttle, cost: 40, payload: { stepMs: 5 } })));
      const { page, problems } = await openPage(browser, DESKTOP);
      await page.goto(`${s.base}/dashboard#/`);
      // One started; the other two wait for the key's window: the Held back table names the key.
      await page.waitForSelector('tr[data-held="throttled:throttled:slowpoke"]', { timeout: 15_000 });
      assert.match((await text(page, 'tr[data-held="throttled:throttled:slowpoke"]')) ?? '', /slowpoke.*throttled.*2/s);
      await page.goto(`${s.base}/dashboard#/tasks/${tasks[0].id}`);
      await page.waitForFunction(() => document.querySelector('.facts')?.textContent?.includes('slowpoke: 1 per'), undefined, { timeout: 10_000 });
      assert.match((await text(page, '.facts')) ?? '', /Cost\s*40/);
      assert.deepEqual(problems, []);
      await page.close();
    });

    it('looks right at 1280x800 and on a phone', async () => {
      // Some history for the charts and lists: quick stories, one failure, one waiting.
      await Promise.all([1, 2, 3, 4].map(() => submit({ type: 'story', queue: 'stories', payload: { stepMs: 5 } })));
      await submit({ type: 'fickle', queue: 'jobs', maxAttempts: 1 });
      await submit({ type: 'story', queue: 'later', delayMs: 3_600_000 });
      const running = await submit({ type: 'story', queue: 'stories', payload: { stepMs: 400 } });
      for (const [label, viewport] of [['1280', DESKTOP], ['phone', PHONE]] as const) {
        const { page, problems } = await openPage(browser, viewport);
        await page.goto(`${s.base}/dashboard#/`);
        await page.waitForSelector('.chart-box svg', { timeout: 10_000 });
        // Counts are shared for a couple of seconds; the overview loads again as the activity settles.
        await page.waitForSelector('tr[data-queue="later"]', { timeout: 10_000 });
        const overflow = await page.evaluate(() => document.documentElement.scrollWidth - document.documentElement.clientWidth);
        assert.equal(overflow, 0, `no sideways scrolling at ${label}`);
        await shot(page, `overview-${label}`);
        await page.click('a[data-nav=tasks]');
        await page.waitForSelector(`tr[data-task-id="${running.id}"]`);
        await shot(page, `tasks-${label}`);
        await page.click(`tr[data-task-id="${running.id}"]`);
        await page.waitForFunction(() => (document.querySelector('[data-testid=output]')?.textContent ?? '').length > 0, undefined, { timeout: 10_000 });
        await page.waitForTimeout(400); // the progress bar eases to the figure the history replay ended at
        await shot(page, `task-${label}`);
        await page.click('a[data-nav=workers]');
        await page.waitForSelector('tr[data-worker-id]');
        await shot(page, `workers-${label}`);
        await page.click('a[data-nav=schedules]');
        await page.waitForSelector('tr[data-queue="stories"]');
        await shot(page, `schedules-${label}`);
        assert.deepEqual(problems, []);
        await page.close();
      }
    });
  });

  describe('dashboard under auth', { skip: missing ? `${CHROMIUM} is missing` : false }, () => {
    let s: TestServer;
    let browser: Browser;
    before(async () => {
      s = await startServer({ autoStart: false }, { auth: { jwtSecret: 'y'.repeat(32) } });
      browser = await launchChromium();
    });
    after(async () => {
      await browser?.close();
      await s?.close();
    });

    it('asks for an admin token, keeps it in sessionStorage, and never puts it in a URL', async () => {
      const reader = (await createApiKey(s.hub.keys, { owner: 'alice', scopes: ['tasks:read', 'tasks:write'] })).token;
      const admin = (await createApiKey(s.hub.keys, { owner: 'ops', scopes: ['admin'] })).token;
      await s.hub.enqueue('guarded', null, { queue: 'private' });
      const { page, urls } = await openPage(browser, DESKTOP);
      await page.goto(`${s.base}/dashboard`);
      // The page itself is public; the API is not, so it asks.
      await page.waitForSelector('dialog.token[open]', { timeout: 10_000 });
      await shot(page, 'sign-in-1280');
      await page.fill('dialog.token input[name=token]', reader);
      await page.click('dialog.token button[type=submit]');
      await page.waitForFunction(() => document.querySelector('dialog.token[open]')?.textContent?.includes('admin scope'), undefined, { timeout: 10_000 });
      await page.fill('dialog.token input[name=token]', admin);
      await page.click('dialog.token button[type=submit]');
      await page.waitForSelector('tr[data-queue="private"]', { timeout: 10_000 });
      await page.waitForFunction(() => document.querySelector('.live')?.getAttribute('data-state') === 'live', undefined, { timeout: 10_000 });
      assert.equal(await page.evaluate(() => sessionStorage.getItem('taskhub.dashboard.token')), admin);
      assert.equal(await page.evaluate(() => localStorage.length), 0);
      for (const url of urls) {
        assert.ok(!url.includes(admin) && !url.includes(reader), `no token in ${url}`);
      }
      const csp = (await s.request('GET', '/dashboard')).headers.get('content-security-policy') ?? '';
      assert.match(csp, /script-src 'self'/);
      assert.doesNotMatch(csp, /unsafe-inline/);
      await page.close();
    });
  });
}
