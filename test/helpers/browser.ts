// Debian's Chromium for browser tests (playwright's own download cannot work here), started the one way that works on
// these machines; TASKHUB_CHROMIUM overrides the path so the skip and fail paths can be checked.
import { existsSync } from 'node:fs';
import type { Browser } from 'playwright-core';

export const CHROMIUM = process.env.TASKHUB_CHROMIUM ?? '/usr/bin/chromium';
export const chromiumMissing = !existsSync(CHROMIUM);
/** In CI a missing browser is a broken environment, not a reason to skip. */
export const browserRequired = Boolean(process.env.CI || process.env.TASKHUB_REQUIRE_SERVICES);

export async function launchChromium(): Promise<Browser> {
  const { chromium } = await import('playwright-core');
  return chromium.launch({
    executablePath: CHROMIUM,
    args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-component-update', '--disable-sync'],
  });
}
