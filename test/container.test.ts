// The container image, without Docker (this machine cannot pull base images): the Dockerfile's runtime stage replayed
// in a clean temporary folder. Its build stage's command builds dist/, its `RUN npm ci ...` installs production
// dependencies from the lock file, its ENV, ENTRYPOINT and CMD start the server, and its HEALTHCHECK command probes it.
// The steps are read from the Dockerfile itself, so the file and this test cannot drift apart.
import assert from 'node:assert/strict';
import { cpSync, existsSync, mkdirSync, readFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { tempDir } from './helpers/hub.ts';
import { PG_URL, freshSchema, requirePostgres } from './helpers/postgres.ts';
import { envWithNode, run, runOk, type Service, startService } from './helpers/processes.ts';

const ROOT = join(import.meta.dirname, '..');

interface Stage {
  name: string;
  lines: string[];
}

/** The Dockerfile's instructions (continuation lines joined, comments dropped), by stage. */
function stages(text: string): Stage[] {
  const instructions = text
    .replace(/\\\n/g, ' ')
    .split('\n')
    .map((line) => line.trim())
    .filter((line) => line !== '' && !line.startsWith('#'));
  const out: Stage[] = [];
  for (const line of instructions) {
    const from = /^FROM\s+\S+\s+AS\s+(\S+)/i.exec(line);
    if (from) out.push({ name: from[1], lines: [] });
    else out.at(-1)?.lines.push(line);
  }
  return out;
}

function argsOf(stage: Stage, keyword: string): string[] {
  const line = stage.lines.find((l) => l.startsWith(`${keyword} `));
  assert.ok(line, `the runtime stage has ${keyword}`);
  const json = line.slice(line.indexOf('['));
  return JSON.parse(json) as string[];
}

/** ENV instructions' `KEY=value` pairs (unquoted values, as this Dockerfile writes them). */
function envOf(stage: Stage): Record<string, string> {
  const env: Record<string, string> = {};
  for (const line of stage.lines.filter((l) => l.startsWith('ENV '))) {
    for (const pair of line.slice(4).trim().split(/\s+/)) {
      const eq = pair.indexOf('=');
      env[pair.slice(0, eq)] = pair.slice(eq + 1);
    }
  }
  return env;
}

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      server.close(() => resolve(typeof address === 'object' && address ? address.port : 0));
    });
  });
}

const dockerfile = readFileSync(join(ROOT, 'Dockerfile'), 'utf8');
const all = stages(dockerfile);
const build = all.find((s) => s.name === 'build')!;
const runtime = all.find((s) => s.name === 'runtime')!;
const tmp = tempDir('taskhub-container-');
const app = join(tmp.dir, 'app');
const data = join(tmp.dir, 'data');
const dockerEnv = envOf(runtime);

after(() => tmp.remove());

before(async () => {
  mkdirSync(app);
  mkdirSync(data);
  // Build stage: `RUN npm run build`, run from this checkout (its dev dependencies are installed) into the folder
  // that the runtime stage copies dist/ from.
  assert.ok(build.lines.includes('RUN npm run build'), 'the build stage runs npm run build');
  // Runtime stage, in order: package files, production install, the launcher and the compiled server.
  for (const file of ['package.json', 'package-lock.json']) cpSync(join(ROOT, file), join(app, file));
  const install = runtime.lines.find((l) => l.startsWith('RUN npm ci'));
  assert.ok(install, 'the runtime stage installs with npm ci');
  const env = envWithNode(process.execPath);
  await Promise.all([
    runOk('sh', ['-c', `${install.slice(4)} --prefer-offline`.replace(' && npm cache clean --force', '')], { cwd: app, env, timeoutMs: 180_000 }),
    runOk(process.execPath, [join(ROOT, 'scripts', 'build.ts'), join(app, 'dist')], { cwd: ROOT, env, timeoutMs: 120_000 }),
  ]);
  cpSync(join(ROOT, 'bin'), join(app, 'bin'), { recursive: true });
});

/** The container's environment: only what the image sets (plus PATH and HOME), with /data mapped to a temp folder. */
function containerEnv(port: number, overrides: Record<string, string> = {}): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = { PATH: envWithNode(process.execPath).PATH, HOME: tmp.dir };
  for (const [key, value] of Object.entries(dockerEnv)) env[key] = value.replace(/^sqlite:\/data\//, `sqlite:${data}/`);
  return { ...env, TASKHUB_PORT: String(port), ...overrides };
}

/** Starts the image's ENTRYPOINT with its CMD, or with another command (`worker`, as compose.yaml does). */
function start(env: NodeJS.ProcessEnv, cmd: string[] = argsOf(runtime, 'CMD')): Service {
  const entrypoint = argsOf(runtime, 'ENTRYPOINT');
  assert.equal(entrypoint[0], 'node');
  return startService(process.execPath, [...entrypoint.slice(1), ...cmd], { cwd: app, env });
}

describe('the container image, its steps replayed in a clean folder', () => {
  it('is multi-stage, runs as a non-root user, keeps its data on a volume, and exposes 8080', () => {
    assert.ok(all.length >= 2);
    const user = runtime.lines.find((l) => l.startsWith('USER '));
    assert.ok(user && !/USER\s+(root|0)\b/.test(user), 'a non-root USER');
    assert.ok(runtime.lines.includes('VOLUME ["/data"]'));
    assert.ok(runtime.lines.includes('EXPOSE 8080'));
    assert.match(dockerEnv.TASKHUB_STORE, /^sqlite:\/data\//);
    assert.ok(Object.keys(dockerEnv).filter((k) => k !== 'NODE_ENV').every((k) => k.startsWith('TASKHUB_')), 'settings are TASKHUB_* variables');
  });

  it('installs production dependencies only, and ships no sources', () => {
    assert.ok(existsSync(join(app, 'node_modules', 'fastify')));
    for (const dev of ['typescript', 'node', '@biomejs', 'playwright-core']) {
      assert.ok(!existsSync(join(app, 'node_modules', dev)), `no dev dependency ${dev}`);
    }
    assert.ok(!existsSync(join(app, 'src')));
  });

  it('serves on SQLite: /healthz and /readyz answer 200, the HEALTHCHECK passes, the API wants a token, SIGTERM stops it cleanly', async () => {
    const port = await freePort();
    const env = containerEnv(port);
    const server = start(env);
    let code: number | null = null;
    try {
      await server.waitFor(/listening on http:/);
      const base = `http://127.0.0.1:${port}`;
      assert.equal((await fetch(`${base}/healthz`)).status, 200);
      assert.equal((await fetch(`${base}/readyz`)).status, 200);
      // HEALTHCHECK's options come before CMD; the JSON array after it is the command.
      const healthcheck = argsOf(runtime, 'HEALTHCHECK');
      assert.equal(healthcheck[0], 'node');
      assert.equal((await run(process.execPath, healthcheck.slice(1), { cwd: app, env })).code, 0, 'the HEALTHCHECK command passes');

      assert.equal((await fetch(`${base}/api/v1/tasks`)).status, 401);
      // An operator's first step (docker exec ... keys create), then a submit with that key.
      const key = await runOk(process.execPath, ['bin/taskhub.js', 'keys', 'create', '--owner', 'ops', '--scopes', 'tasks:read,tasks:write'], { cwd: app, env });
      const token = /thk_\S+/.exec(key.stdout)?.[0];
      assert.ok(token, key.stdout);
      const submitted = await fetch(`${base}/api/v1/tasks`, {
        method: 'POST',
        headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
        body: JSON.stringify({ type: 'report' }),
      });
      assert.equal(submitted.status, 202);
      assert.ok(existsSync(join(data, 'taskhub.db')), 'the SQLite file is on the volume');
      // JSON log lines, as TASKHUB_LOG_FORMAT=json asks.
      assert.match(server.output(), /^\{"level":/m);
    } finally {
      code = await server.stop('SIGTERM');
    }
    assert.equal(code, 0, server.output());
  });

  it('serves and works on PostgreSQL, as in compose.yaml: an API node and a worker with a TypeScript handlers module', async (t) => {
    if (!(await requirePostgres(t))) return;
    const port = await freePort();
    const schema = freshSchema('container');
    const compose = readFileSync(join(ROOT, 'compose.yaml'), 'utf8');
    const handlersPath = /TASKHUB_HANDLERS: (\S+)/.exec(compose)?.[1];
    assert.equal(handlersPath, '/app/handlers/handlers.ts');
    // compose.yaml mounts examples/handlers.ts there: inside the package's folder, so `from 'taskhub'` resolves.
    mkdirSync(join(app, 'handlers'), { recursive: true });
    cpSync(join(ROOT, 'examples', 'handlers.ts'), join(app, 'handlers', 'handlers.ts'));
    const env = containerEnv(port, { TASKHUB_STORE: `${PG_URL}?schema=${schema}` });
    const server = start(env);
    let worker: Service | undefined;
    try {
      await server.waitFor(/listening on/);
      const base = `http://127.0.0.1:${port}`;
      assert.equal((await fetch(`${base}/readyz`)).status, 200);
      worker = start({ ...env, TASKHUB_HANDLERS: join(app, 'handlers', 'handlers.ts') }, ['worker']);
      const key = await runOk(process.execPath, ['bin/taskhub.js', 'keys', 'create', '--owner', 'ops', '--scopes', 'tasks:read,tasks:write'], { cwd: app, env });
      const token = /thk_\S+/.exec(key.stdout)?.[0];
      const headers = { authorization: `Bearer ${token}`, 'content-type': 'application/json' };
      const submitted = await fetch(`${base}/api/v1/tasks`, {
        method: 'POST',
        headers,
        body: JSON.stringify({ type: 'travel-plan', payload: { city: 'Lyon', days: 1, chunkDelayMs: 1 } }),
      });
      assert.equal(submitted.status, 202);
      const { id } = (await submitted.json()) as { id: string };
      const result = (await (await fetch(`${base}/api/v1/tasks/${id}/result?wait=20`, { headers })).json()) as { status: string; result: { city: string } };
      assert.equal(result.status, 'completed', worker.output());
      assert.equal(result.result.city, 'Lyon');
    } finally {
      const [workerCode, serverCode] = await Promise.all([worker?.stop('SIGTERM'), server.stop('SIGTERM')]);
      const { Client } = await import('pg');
      const client = new Client({ connectionString: PG_URL });
      await client.connect();
      await client.query(`DROP SCHEMA IF EXISTS "${schema}" CASCADE`);
      await client.end();
      if (worker) assert.equal(workerCode, 0, worker.output());
      assert.equal(serverCode, 0, server.output());
    }
  });
});
