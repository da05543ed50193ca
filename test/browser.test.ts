// The browser SDK in a real Chromium: a page imports the bundled module (no build step), submits a slow task with
// it, shows the progress live through a plain EventSource and cross-checks with the SDK's fetch-based follow().
import assert from 'node:assert/strict';
import { mkdirSync, readFileSync } from 'node:fs';
import type { AddressInfo } from 'node:net';
import { after, before, describe, it } from 'node:test';
import type { Browser } from 'playwright-core';
import handlers from '../examples/handlers.ts';
import { clientModuleSource } from '../src/client/browser-bundle.ts';
import { createServer } from '../src/server/server.ts';
import { openTestHub } from './helpers/hub.ts';
import { browserRequired, CHROMIUM, chromiumMissing, launchChromium } from './helpers/browser.ts';
import { startProxy, type TestProxy } from './helpers/proxy.ts';

const ARTIFACTS = new URL('../artifacts/', import.meta.url);
const PAGE = new URL('./fixtures/browser-page.html', import.meta.url);
const required = browserRequired;
const missing = chromiumMissing;

if (missing && required) {
  // In CI a missing browser is a broken environment, not a reason to skip.
  describe('browser SDK', () => {
    it('needs Chromium', () => {
      assert.fail(`${CHROMIUM} is missing (CI or TASKHUB_REQUIRE_SERVICES is set): apt-get install -y chromium`);
    });
  });
} else {
  describe('browser SDK', { skip: missing ? `${CHROMIUM} is missing: apt-get install -y chromium to run the browser tests` : false }, () => {
    let hub: Awaited<ReturnType<typeof openTestHub>>;
    let app: Awaited<ReturnType<typeof createServer>>;
    let front: TestProxy;
    let browser: Browser;

    before(async () => {
      hub = await openTestHub({ worker: { pollIntervalMs: 50 } });
      hub.handle('travel-plan', handlers['travel-plan']);
      app = await createServer({ hub, sseHeartbeatMs: 1000 });
      await app.listen({ port: 0, host: '127.0.0.1' });
      const api = `http://127.0.0.1:${(app.server.address() as AddressInfo).port}`;
      // The page and the module come from the same origin as the API, as they will once the server mounts /client.js.
      front = await startProxy(api, {
        '/': (_req, res) => {
          res.writeHead(200, { 'content-type': 'text/html; charset=utf-8' });
          res.end(readFileSync(PAGE));
        },
        // Browsers ask for it on their own; a 404 would show up as a console error.
        '/favicon.ico': (_req, res) => {
          res.writeHead(204);
          res.end();
        },
        '/client.js': async (_req, res) => {
          const source = await clientModuleSource();
          res.writeHead(200, { 'content-type': 'text/javascript; charset=utf-8' });
          res.end(source);
        },
      });
      browser = await launchChromium();
    });

    after(async () => {
      await browser?.close();
      await front?.close();
      await app?.close();
      await hub?.dispose();
    });

    it('submits with the SDK and shows the progress live until 100%, with the streamed text', async () => {
      const page = await browser.newPage({ viewport: { width: 900, height: 560 } });
      const problems: string[] = [];
      page.on('pageerror', (error) => problems.push(`pageerror: ${error.message}`));
      page.on('console', (message) => {
        if (message.type() === 'error') problems.push(`console: ${message.text()}`);
      });
      mkdirSync(ARTIFACTS, { recursive: true });

      await page.goto(`${front.url}/?delay=120`);
      // Live: a progress figure strictly between the first report and the end, while the task runs.
      await page.waitForFunction(() => {
        const percent = Number.parseInt(document.getElementById('percent')?.textContent ?? '0', 10);
        return percent > 5 && percent < 100 && (document.getElementById('output')?.textContent ?? '').length > 0;
      }, undefined, { timeout: 15_000 });
      await page.screenshot({ path: new URL('browser-progress-live.png', ARTIFACTS).pathname });

      await page.waitForFunction(() => 'error' in ((window as unknown as { __taskhub?: object }).__taskhub ?? {}) || (window as unknown as { __taskhub?: object }).__taskhub !== undefined, undefined, { timeout: 30_000 });
      await page.waitForFunction(() => document.getElementById('status')?.textContent !== 'running', undefined, { timeout: 10_000 });
      const state = await page.evaluate(() => ({
        app: (window as unknown as { __taskhub: { taskId?: string; sdkSeqs?: number[]; esKinds?: string[]; error?: string } }).__taskhub,
        percent: document.getElementById('percent')?.textContent,
        barWidth: document.getElementById('bar')?.style.width,
        status: document.getElementById('status')?.textContent,
        output: document.getElementById('output')?.textContent ?? '',
        esCount: document.getElementById('es-count')?.textContent,
        result: document.getElementById('result')?.textContent,
      }));
      await page.screenshot({ path: new URL('browser-progress.png', ARTIFACTS).pathname });

      assert.equal(state.app.error, undefined, `the page failed: ${state.app.error}`);
      assert.equal(state.status, 'completed');
      assert.equal(state.percent, '100%');
      assert.equal(state.barWidth, '100%');
      assert.match(state.output, /Day-by-day plan for Shanghai: +Day 1: a museum, a market, and dinner by the river\. +Day 2:/);
      const stored = await hub.events(state.app.taskId!);
      assert.deepEqual(state.app.sdkSeqs, stored.map((e) => e.seq), 'the SDK saw every event once, in order');
      assert.deepEqual(state.app.esKinds, stored.map((e) => e.kind), 'the EventSource saw the same history');
      assert.equal(state.esCount, String(stored.length));
      assert.match(state.result ?? '', /^completed, \d+ characters$/);
      assert.deepEqual(problems, []);
      await page.close();
    });
  });
}
