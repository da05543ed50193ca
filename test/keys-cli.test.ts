// `taskhub keys create | list | revoke` against a real SQLite file, the key it prints working against a real server,
// and `taskhub serve` refusing to listen beyond loopback without auth.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { createServer } from '../src/server/server.ts';
import { Taskhub } from '../src/index.ts';
import pino from 'pino';
import type { AddressInfo } from 'node:net';
import { tempDir } from './helpers/hub.ts';
import { startService } from './helpers/processes.ts';

const CLI = join(import.meta.dirname, '..', 'bin', 'taskhub.js');
const tmp = tempDir();
const dbPath = join(tmp.dir, 'keys.db');
const store = `sqlite:${dbPath}`;

function taskhub(args: string[], env: Record<string, string> = {}) {
  const r = spawnSync(process.execPath, [CLI, ...args], { encoding: 'utf8', timeout: 30_000, env: { ...process.env, TASKHUB_STORE: store, ...env } });
  return { code: r.status, stdout: r.stdout, stderr: r.stderr };
}

after(() => tmp.remove());

interface KeyJson {
  id: string;
  name: string | null;
  owner: string;
  scopes: string[];
  createdAt: number;
  revokedAt: number | null;
  token?: string;
}

describe('taskhub keys', () => {
  it('creates a key, prints it once, lists it without its secret, and revokes it', async () => {
    const created = taskhub(['keys', 'create', '--owner', 'acme', '--scopes', 'tasks:read,tasks:write', '--name', 'ci', '--json']);
    assert.equal(created.code, 0, created.stderr);
    const key = JSON.parse(created.stdout) as KeyJson;
    assert.match(key.token ?? '', /^thk_[0-9a-f]{16}_[A-Za-z0-9_-]{43}$/);
    assert.deepEqual([key.owner, key.scopes, key.name, key.revokedAt], ['acme', ['tasks:read', 'tasks:write'], 'ci', null]);

    const text = taskhub(['keys', 'create', '--owner', 'acme', '--scopes', 'tasks:read']);
    assert.equal(text.code, 0, text.stderr);
    assert.match(text.stdout, /not stored and cannot be shown again/);
    const textToken = text.stdout.trim().split('\n').at(-1) as string;
    assert.match(textToken, /^thk_/);

    const listed = JSON.parse(taskhub(['keys', 'list', '--json']).stdout) as KeyJson[];
    assert.deepEqual(listed.map((k) => k.id).sort(), [key.id, textToken.slice(4, 20)].sort());
    const everything = taskhub(['keys', 'list', '--json']).stdout + taskhub(['keys']).stdout;
    for (const token of [key.token as string, textToken]) assert.ok(!everything.includes(token.split('_').slice(2).join('_')), 'no secret is ever listed');
    assert.match(taskhub(['keys']).stdout, new RegExp(`${key.id}\\s+acme\\s+tasks:read,tasks:write\\s+ci\\s+\\S+\\s+active`));

    // The printed key works against a server on the same store, until it is revoked.
    const hub = await Taskhub.open({ store, logger: pino({ level: 'silent' }), autoStart: false });
    const app = await createServer({ hub, logger: false, auth: {} });
    await app.listen({ port: 0, host: '127.0.0.1' });
    const url = `http://127.0.0.1:${(app.server.address() as AddressInfo).port}/api/v1/tasks`;
    try {
      assert.equal((await fetch(url, { headers: { authorization: `Bearer ${key.token}` } })).status, 200);
      const revoked = taskhub(['keys', 'revoke', key.id, '--json']);
      assert.equal(revoked.code, 0, revoked.stderr);
      assert.deepEqual(JSON.parse(revoked.stdout), { id: key.id, revoked: true });
      assert.equal((await fetch(url, { headers: { authorization: `Bearer ${key.token}` } })).status, 401);
    } finally {
      await app.close();
      await hub.close({ graceMs: 0 });
    }
    const again = taskhub(['keys', 'revoke', key.id]);
    assert.equal(again.code, 1);
    assert.match(again.stderr, /no active API key/);
    const after = (JSON.parse(taskhub(['keys', 'list', '--json']).stdout) as KeyJson[]).find((k) => k.id === key.id);
    assert.ok(after?.revokedAt, 'listed as revoked');
    assert.match(taskhub(['keys']).stdout, /revoked \d{4}-/);
  });

  it('names the problem in bad input', () => {
    assert.match(taskhub(['keys', 'create', '--owner', 'acme']).stderr, /--owner and --scopes are required/);
    assert.equal(taskhub(['keys', 'create', '--owner', 'acme']).code, 2);
    const scope = taskhub(['keys', 'create', '--owner', 'acme', '--scopes', 'tasks:read,root']);
    assert.equal(scope.code, 1);
    assert.match(scope.stderr, /unknown scope "root"/);
    assert.match(taskhub(['keys', 'create', '--owner', 'a b', '--scopes', 'admin']).stderr, /owner: must be/);
    assert.equal(taskhub(['keys', 'revoke']).code, 2);
    assert.equal(taskhub(['keys', 'rotate']).code, 2);
    assert.match(taskhub(['keys', '--help']).stdout, /usage: taskhub keys/);
  });
});

describe('taskhub serve and auth', () => {
  it('refuses to listen beyond loopback without auth', () => {
    const r = taskhub(['serve', '--host', '0.0.0.0', '--port', '0']);
    assert.equal(r.code, 2);
    assert.match(r.stderr, /listening beyond loopback requires auth/);
    const weak = taskhub(['serve', '--host', '0.0.0.0', '--port', '0', '--jwt-secret', 'short']);
    assert.equal(weak.code, 2);
    assert.match(weak.stderr, /at least 32 characters/);
    assert.match(taskhub(['serve', '--rate-limit-submit', 'lots']).stderr, /expected N\/MS/);
  });

  it('listens beyond loopback with TASKHUB_AUTH=on, and then asks for a token', async () => {
    const service = startService(process.execPath, [CLI, 'serve', '--host', '0.0.0.0', '--port', '0', '--log-level', 'warn'], {
      cwd: process.cwd(),
      env: { ...process.env, TASKHUB_STORE: store, TASKHUB_AUTH: 'on' },
    });
    try {
      const address = (await service.waitFor(/listening on (http:\/\/\S+)/))[1] as string;
      const port = new URL(address).port;
      const res = await fetch(`http://127.0.0.1:${port}/api/v1/tasks`);
      assert.equal(res.status, 401);
      assert.equal((await fetch(`http://127.0.0.1:${port}/healthz`)).status, 200);
    } finally {
      await service.stop();
    }
  });
});
