// The published package, as a user gets it: `npm pack` (which builds dist/), the tarball installed into a fresh
// project from the registry (or npm's cache), then the library, the client, the CLI and the types used from there,
// on the current Node and on the oldest one package.json's "engines" admits. Nothing here imports the sources.
import assert from 'node:assert/strict';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { tempDir } from './helpers/hub.ts';
import { envWithNode, nodeBinary, run, runOk, startService } from './helpers/processes.ts';

const ROOT = join(import.meta.dirname, '..');
const pkg = JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as { name: string; version: string; engines: { node: string } };
/** The oldest Node that "engines" admits, tested below; keep the two in step. */
const OLDEST_NODE = '22.20.0';
const SYSTEM_NODE = '/usr/bin/node';

const tmp = tempDir('taskhub-package-');
const project = join(tmp.dir, 'project');
let tarball = '';
let oldestNode = '';

after(() => tmp.remove());

before(async () => {
  assert.ok(pkg.engines.node.startsWith(`^${OLDEST_NODE} `), `engines.node (${pkg.engines.node}) must start at ${OLDEST_NODE}`);
  // In parallel: the pack (runs prepack, the build) and fetching the oldest Node (cached across runs).
  const [packed, binary] = await Promise.all([
    runOk('npm', ['pack', '--pack-destination', tmp.dir], { cwd: ROOT, env: envWithNode(process.execPath), timeoutMs: 120_000 }),
    nodeBinary(OLDEST_NODE, join(tmpdir(), 'taskhub-test-node')),
  ]);
  tarball = join(tmp.dir, packed.stdout.trim().split('\n').at(-1)!);
  oldestNode = binary;
  mkdirSync(project);
  writeFileSync(join(project, 'package.json'), JSON.stringify({ name: 'consumer', private: true, type: 'module' }));
  await runOk('npm', ['install', '--prefer-offline', tarball], { cwd: project, env: envWithNode(process.execPath), timeoutMs: 180_000 });
});

describe('the npm package, installed from its tarball', () => {
  it('ships dist/, bin/ and docs, and no sources, tests or benchmarks', async () => {
    const listing = await runOk('tar', ['-tzf', tarball], { cwd: tmp.dir });
    const files = listing.stdout.trim().split('\n');
    for (const file of files) {
      assert.match(file, /^package\/(dist\/|bin\/|docs\/|README\.md$|package\.json$)/, `unexpected file in the tarball: ${file}`);
    }
    assert.ok(!files.some((f) => /^package\/(test|bench|src|examples|clients)\//.test(f)), 'no test/, bench/, src/, examples/ or clients/');
    for (const needed of ['dist/index.js', 'dist/index.d.ts', 'dist/client/index.js', 'dist/client/index.d.ts', 'dist/cli/main.js', 'bin/taskhub.js', 'dist/dashboard/index.html', 'dist/dashboard/style.css', 'dist/client/taskhub-client.browser.js']) {
      assert.ok(files.includes(`package/${needed}`), `missing ${needed}`);
    }
    assert.ok(!files.some((f) => f.endsWith('.ts') && !f.endsWith('.d.ts')), 'no TypeScript sources (Node will not strip types under node_modules)');
    const installed = JSON.parse(readFileSync(join(project, 'node_modules', 'taskhub', 'package.json'), 'utf8')) as { dependencies: Record<string, string> };
    assert.equal(installed.dependencies.node, undefined, 'the node binary package is not a runtime dependency');
  });

  // A task submitted, run with progress and finished, through the package's main export on SQLite; then 8 MiB of
  // tasks, which start the WAL checkpoint thread (its module is found beside the store's in dist/): the database file
  // grows while the store is open only if that thread copies the WAL into it.
  const LIBRARY_SCRIPT = `
import { statSync } from 'node:fs';
import { Taskhub, TaskhubError } from 'taskhub';
const db = './library-' + process.version + '.db';
const hub = await Taskhub.open({ store: 'sqlite:' + db });
hub.handle('double', async (payload, ctx) => {
  await ctx.progress(50, 'halfway');
  return { n: payload.n * 2 };
});
const task = await hub.enqueue('double', { n: 21 });
const done = await hub.wait(task.id, 10000);
const kinds = (await hub.events(task.id)).map((e) => e.kind);
const fileBefore = statSync(db).size;
const filler = 'x'.repeat(64 * 1024);
for (let i = 0; i < 8; i++) await hub.enqueueMany(Array.from({ length: 16 }, () => ({ type: 'filler', payload: { filler } })));
let fileGrew = 0;
for (let waited = 0; waited < 5000 && fileGrew < 4 * 1024 * 1024; waited += 50) {
  await new Promise((resolve) => setTimeout(resolve, 50));
  fileGrew = statSync(db).size - fileBefore;
}
await hub.close();
console.log(JSON.stringify({ status: done.status, result: done.result, progress: done.progress, kinds, errors: typeof TaskhubError, fileGrew }));
`;

  for (const which of ['current', 'oldest'] as const) {
    it(`runs the library on SQLite (${which} Node)`, async () => {
      const node = which === 'current' ? process.execPath : oldestNode;
      writeFileSync(join(project, 'library.mjs'), LIBRARY_SCRIPT);
      const r = await runOk(node, ['library.mjs'], { cwd: project });
      const out = JSON.parse(r.stdout) as { status: string; result: unknown; progress: { percent: number }; kinds: string[]; errors: string; fileGrew: number };
      assert.equal(out.status, 'completed');
      assert.deepEqual(out.result, { n: 42 });
      assert.ok(out.kinds.includes('progress') && out.kinds.includes('completed'), out.kinds.join(','));
      assert.equal(out.errors, 'function');
      assert.ok(out.fileGrew >= 4 * 1024 * 1024, `the checkpoint thread copied ${out.fileGrew} bytes into the database file`);
    });
  }

  it('gives TypeScript users the types (tsc on a consumer file; a misuse is an error)', async () => {
    const tsc = join(ROOT, 'node_modules', 'typescript', 'bin', 'tsc');
    writeFileSync(
      join(project, 'tsconfig.json'),
      JSON.stringify({
        compilerOptions: {
          target: 'ES2022',
          module: 'NodeNext',
          moduleResolution: 'NodeNext',
          strict: true,
          noEmit: true,
          // A user's project has @types/node; this one borrows the repository's rather than installing it.
          typeRoots: [join(ROOT, 'node_modules', '@types')],
          types: ['node'],
          // The package's own declarations are checked too, not skipped: they must stand on their own.
          skipLibCheck: false,
        },
        files: ['consumer.ts'],
      }),
    );
    writeFileSync(
      join(project, 'consumer.ts'),
      `import { Taskhub, type Task, type TaskContext, type Handler } from 'taskhub';
import { TaskhubClient, TaskhubHttpError } from 'taskhub/client';

const handler: Handler<{ n: number }, { n: number }> = async (payload: { n: number }, ctx: TaskContext) => {
  await ctx.progress(10, 'started');
  return { n: payload.n * 2 };
};

export async function main(): Promise<string> {
  const hub: Taskhub = await Taskhub.open({ store: 'sqlite:./typed.db' });
  hub.handle('double', handler, { concurrency: 2 });
  const task: Task = await hub.enqueue('double', { n: 1 }, { priority: 5, maxAttempts: 3 });
  const client = new TaskhubClient({ url: 'http://127.0.0.1:8080' });
  try {
    const remote: Task = await client.submit('double', { n: 2 }, { priority: 1 });
    return remote.id + task.id;
  } catch (error) {
    if (error instanceof TaskhubHttpError) return error.message;
    throw error;
  }
}
`,
    );
    const good = await run(process.execPath, [tsc, '-p', '.'], { cwd: project });
    assert.equal(good.code, 0, `tsc:\n${good.stdout}${good.stderr}`);

    // The types are real ones, not any: a wrong call is refused.
    writeFileSync(join(project, 'consumer.ts'), `import { Taskhub } from 'taskhub';\nconst hub = await Taskhub.open();\nawait hub.enqueue(42);\n`);
    const bad = await run(process.execPath, [tsc, '-p', '.'], { cwd: project });
    assert.notEqual(bad.code, 0);
    assert.match(bad.stdout, /consumer\.ts.*error TS2345/);
  });

  it('runs the CLI: --help, serve on the default SQLite store, a submit over HTTP, a TypeScript handlers worker, the client', async () => {
    const current = envWithNode(process.execPath);
    const oldest = envWithNode(oldestNode);
    const help = await runOk('npx', ['--no-install', 'taskhub', '--help'], { cwd: project, env: current });
    assert.match(help.stdout, /usage: taskhub <command>/);
    // An older Node is told plainly what it needs (Debian's system Node 20, where there is one).
    if (existsSync(SYSTEM_NODE) && Number((await runOk(SYSTEM_NODE, ['-p', 'process.versions.node.split(".")[0]'], { cwd: project })).stdout) < 22) {
      const old = await run(SYSTEM_NODE, [join(project, 'node_modules', 'taskhub', 'bin', 'taskhub.js'), '--help'], { cwd: project });
      assert.equal(old.code, 1);
      assert.match(old.stderr, /taskhub needs Node\.js 22\.20\+ \(22 LTS\) or 24\.7\+/);
    }

    // A user's handlers, in TypeScript, importing a type and a value from the package.
    writeFileSync(
      join(project, 'handlers.ts'),
      `import { type TaskContext, TaskhubError } from 'taskhub';

interface Greeting { name: string }

export default {
  async greet(payload: Greeting, ctx: TaskContext): Promise<{ text: string; errors: boolean }> {
    await ctx.progress(50, 'greeting');
    return { text: \`hello \${payload.name}\`, errors: typeof TaskhubError === 'function' };
  },
};
`,
    );
    // Long-running processes are started through the installed command itself (node_modules/.bin/taskhub, what npx
    // runs), not through npx, which does not pass SIGTERM on to them.
    const taskhub = join(project, 'node_modules', '.bin', 'taskhub');
    const serveDir = join(project, 'serve');
    mkdirSync(serveDir);
    // The server with no --store: ./taskhub.db in its working directory, the default.
    const server = startService(taskhub, ['serve', '--port', '0', '--log-level', 'warn'], { cwd: serveDir, env: current });
    // The worker on the oldest supported Node, on the same SQLite file, loading the TypeScript file as it is.
    let worker: ReturnType<typeof startService> | undefined;
    try {
      const url = (await server.waitFor(/listening on (http:\/\/\S+)/))[1];
      for (const probe of ['/healthz', '/readyz']) assert.equal((await fetch(url + probe)).status, 200, probe);

      const submitted = await fetch(`${url}/api/v1/tasks`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ type: 'greet', payload: { name: 'http' } }),
      });
      assert.equal(submitted.status, 202);
      const { id } = (await submitted.json()) as { id: string };

      worker = startService(taskhub, ['worker', '--handlers', '../handlers.ts', '--store', 'sqlite:./taskhub.db', '--log-format', 'json'], {
        cwd: serveDir,
        env: oldest,
      });
      const result = (await (await fetch(`${url}/api/v1/tasks/${id}/result?wait=20`)).json()) as { status: string; result: unknown };
      assert.equal(result.status, 'completed', worker.output());
      assert.deepEqual(result.result, { text: 'hello http', errors: true });

      // The client SDK from the package, in Node: submit and wait for the result through the server.
      writeFileSync(
        join(project, 'client.mjs'),
        `import { TaskhubClient } from 'taskhub/client';
const client = new TaskhubClient({ url: process.argv[2] });
const task = await client.submit('greet', { name: 'client' });
const kinds = [];
for await (const event of client.follow(task.id)) kinds.push(event.kind);
const done = await client.result(task.id, { timeoutMs: 20000 });
console.log(JSON.stringify({ status: done.status, result: done.result, kinds }));
`,
      );
      const client = JSON.parse((await runOk(process.execPath, ['client.mjs', url], { cwd: project })).stdout) as { status: string; result: { text: string }; kinds: string[] };
      assert.equal(client.status, 'completed');
      assert.equal(client.result.text, 'hello client');
      assert.deepEqual(client.kinds.at(-1), 'completed');

      // The browser side, as the installed server serves it: the dashboard and its modules are JavaScript.
      const page = await (await fetch(`${url}/dashboard`)).text();
      assert.match(page, /src="\/dashboard\/app\.js"/);
      const app = await fetch(`${url}/dashboard/app.js`);
      assert.equal(app.status, 200);
      assert.match(app.headers.get('content-type') ?? '', /javascript/);
      const sdk = await (await fetch(`${url}/dashboard/sdk.js`)).text();
      assert.match(sdk, /export const \{[^}]*TaskhubClient/);
      assert.equal((await fetch(`${url}/dashboard/style.css`)).status, 200);
    } finally {
      // Both stop gracefully on SIGTERM (exit 0); both are stopped before either is judged.
      const [workerCode, serverCode] = await Promise.all([worker?.stop(), server.stop()]);
      if (worker) assert.equal(workerCode, 0, worker.output());
      assert.equal(serverCode, 0, server.output());
    }
  });
});
