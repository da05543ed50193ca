#!/usr/bin/env node
// Launcher for the `taskhub` command. In a clone of the repository it runs the TypeScript sources directly (Node strips
// the types), so the repository never depends on a build; the published package ships no src/, only the compiled
// dist/, and runs that. Node never strips types under node_modules, which is why the package must ship JavaScript.
import { existsSync } from 'node:fs';

// The oldest Node that runs Taskhub: node:sqlite without a flag, DatabaseSync's `timeout` and `isTransaction`, numbered
// SQL parameters (?1 used twice) bound correctly (22.19 and 24.0-24.6 fail with "column index out of range"), and type
// stripping on by default for a TypeScript --handlers file. Said plainly here rather than as an obscure error later.
// The same range as "engines" in package.json.
const [major, minor] = process.versions.node.split('.').map(Number);
if (major < 22 || (major === 22 && minor < 20) || major === 23 || (major === 24 && minor < 7)) {
  process.stderr.write(`taskhub needs Node.js 22.20+ (22 LTS) or 24.7+; this is ${process.version}\n`);
  process.exit(1);
}

const sources = new URL('../src/cli/main.ts', import.meta.url);
await import(existsSync(sources) ? sources.href : new URL('../dist/cli/main.js', import.meta.url).href);
