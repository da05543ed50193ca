// taskhub keys create | list | revoke: API keys, in the store named by --store (like the other admin commands). The
// key is printed once, by create; the store keeps only the hash of its secret.
import { TaskhubError } from '../../core/errors.ts';
import { SCOPES } from '../../server/principal.ts';
import type { ApiKey } from '../../store/store.ts';
import { COMMON_OPTIONS, parseCommand, str, UsageError, type OptionSpecs } from '../config.ts';
import { printJson } from '../format.ts';
import { openLocalHub } from '../target.ts';

export const keysOptions: OptionSpecs = {
  owner: { type: 'string', help: 'create: the owner (tenant or user) whose tasks the key submits and sees' },
  scopes: { type: 'string', help: `create: comma-separated scopes: ${SCOPES.join(', ')}` },
  name: { type: 'string', help: 'create: a label for the key, e.g. "billing-service"' },
  store: COMMON_OPTIONS.store,
  json: COMMON_OPTIONS.json,
  help: COMMON_OPTIONS.help,
};
export const keysSummary = 'Creates (printed once), lists and revokes API keys.';
const USAGE = 'taskhub keys [list | create --owner NAME --scopes a,b [--name N] | revoke ID] [--json]';

const iso = (ms: number | null) => (ms === null ? '-' : new Date(ms).toISOString());
const keyRow = (k: ApiKey) =>
  `${k.id}  ${k.owner.padEnd(16)}  ${k.scopes.join(',').padEnd(30)}  ${(k.name ?? '-').padEnd(16)}  ${iso(k.createdAt)}  ${k.revokedAt === null ? 'active' : `revoked ${iso(k.revokedAt)}`}`;

export async function keysCommand(argv: string[]): Promise<void> {
  const { values, positionals } = parseCommand(argv, keysOptions);
  const [verb = 'list', id, ...extra] = positionals;
  if (!['list', 'create', 'revoke'].includes(verb) || extra.length > 0) throw new UsageError(`usage: ${USAGE}`);
  if (verb === 'revoke' && !id) throw new UsageError(`ID is required: ${USAGE}`);
  if (verb === 'create') {
    const owner = str(values, 'owner');
    const scopes = str(values, 'scopes');
    if (!owner || !scopes) throw new UsageError(`--owner and --scopes are required: ${USAGE}`);
  }
  // The local store only: a key is a credential, and minting one over HTTP would need a credential first.
  const hub = await openLocalHub(values, verb !== 'create');
  try {
    const store = hub.keys;
    if (verb === 'list') {
      const keys = await store.listApiKeys();
      if (values.json) printJson(keys);
      else for (const key of keys) process.stdout.write(`${keyRow(key)}\n`);
    } else if (verb === 'revoke') {
      if (!(await store.revokeApiKey(id as string, Date.now()))) {
        throw new TaskhubError('NOT_FOUND', `no active API key ${id} (unknown, or revoked already)`);
      }
      if (values.json) printJson({ id, revoked: true });
      else process.stdout.write(`revoked ${id}: refused from now on by every API node\n`);
    } else {
      const scopes = (str(values, 'scopes') as string).split(',').map((s) => s.trim()).filter(Boolean);
      const { createApiKey } = await import('../../server/auth.ts');
      const { key, token } = await createApiKey(store, { owner: str(values, 'owner') as string, scopes, name: str(values, 'name') ?? null });
      if (values.json) printJson({ ...key, token });
      else {
        process.stdout.write(
          `API key ${key.id} for owner "${key.owner}", scopes ${key.scopes.join(', ')}.\n` +
            'Copy it now: it is not stored and cannot be shown again.\n\n' +
            `${token}\n`,
        );
      }
    }
  } finally {
    await hub.close({ graceMs: 0 });
  }
}
