// What the worker runtime needs from whoever hands out tasks: the local engine's WorkerGateway (hub.attempts), or a
// Taskhub server over HTTP (http-backend.ts). The same calls as the gateway, less those only a server needs.
import type { WorkerGateway } from '../engine/attempt-service.ts';

export type WorkerBackend = Omit<WorkerGateway, 'now' | 'stillClaiming' | 'listWorkers'>;
