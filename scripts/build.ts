// Builds the published package into dist/: compiled JavaScript and declarations from src/ (tsc, tsconfig.build.json),
// the dashboard's page and stylesheet, and the browser build of the client SDK. The repository never runs dist/ (it
// runs src/ directly); `npm pack` and `npm publish` build it first (the prepack script), and so does the Dockerfile.
import { spawnSync } from 'node:child_process';
import { cpSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join, relative, resolve } from 'node:path';
import { BROWSER_BUNDLE_FILE, clientModuleSource } from '../src/client/browser-bundle.ts';

const root = join(import.meta.dirname, '..');
const src = join(root, 'src');
// `node scripts/build.ts [OUT]`: dist/ by default; the container test builds into a temporary folder instead.
const dist = resolve(process.argv[2] ?? join(root, 'dist'));

rmSync(dist, { recursive: true, force: true });

const tsc = spawnSync(process.execPath, [join(root, 'node_modules', 'typescript', 'bin', 'tsc'), '-p', join(root, 'tsconfig.build.json'), '--outDir', dist], {
  stdio: 'inherit',
});
if (tsc.status !== 0) {
  process.stderr.write('build: tsc failed\n');
  process.exit(1);
}

/** Every file under `dir`, as paths relative to it. */
function walk(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true, recursive: true })
    .filter((entry) => entry.isFile())
    .map((entry) => relative(dir, join(entry.parentPath, entry.name)));
}

// Files the server reads from disk at run time (the dashboard's HTML and CSS): everything in src/ that is not
// TypeScript, except the conformance suite, which is not shipped.
for (const file of walk(src)) {
  if (file.endsWith('.ts') || file.startsWith(join('store', 'conformance'))) continue;
  cpSync(join(src, file), join(dist, file));
}

// The dashboard's modules are compiled like the rest; its page loads them by their .js names. Their declarations
// describe nothing a user imports, so they go.
const page = join(dist, 'dashboard', 'index.html');
writeFileSync(page, readFileSync(page, 'utf8').replace('src="/dashboard/app.ts"', 'src="/dashboard/app.js"'));
for (const file of walk(join(dist, 'dashboard'))) {
  if (file.endsWith('.d.ts')) rmSync(join(dist, 'dashboard', file));
}

// The client SDK as one browser module, built now from the sources, so the installed server serves it without
// reading or stripping TypeScript.
writeFileSync(join(dist, 'client', BROWSER_BUNDLE_FILE), await clientModuleSource());

process.stdout.write(`build: ${walk(dist).length} files in dist/\n`);
