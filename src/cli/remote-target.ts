// The task commands against a running server (--url), through the client SDK.
import { TaskhubClient } from '../client/index.ts';
import type { CliTarget } from './cli-target.ts';

export function remoteTarget(url: string, token: string | undefined): CliTarget {
  const client = new TaskhubClient({ url, ...(token ? { token } : {}) });
  return {
    submit: ({ owner: _owner, concurrencyKey: _key, ...spec }) => client.create({ ...spec, payload: spec.payload ?? null }),
    get: (id) => client.get(id),
    list: ({ tag: _tag, owner: _owner, ...filter }) => client.list(filter),
    events: (id) => client.events(id),
    follow: (id) => client.follow(id),
    checkpoints: (id) => client.checkpoints(id),
    signal: (id, name, data) => client.signal(id, name, data),
    recover: (id, options) => client.recover(id, options),
    derive: (id, spec) => client.derive(id, spec),
    close: async () => {},
  };
}
