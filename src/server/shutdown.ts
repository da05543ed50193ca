// Makes app.close() prompt without cutting requests short. Node's server.close() closes idle keep-alive sockets once,
// when it is called; a socket that finishes its request later lingers for the keep-alive timeout (72 s in Fastify),
// and a socket that never sent a request (some clients open a spare one) until the headers timeout, 60-90 s. So on
// close this ends streams and long-polls, closes every socket with no request in flight, and closes the others as
// soon as their last request is answered.
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Duplex } from 'node:stream';
import type { FastifyInstance } from 'fastify';
import type { StreamConnections } from './connections.ts';

export function installPromptClose(app: FastifyInstance, connections: StreamConnections): void {
  const inFlight = new Map<Duplex, number>();
  let closing = false;

  app.server.on('connection', (socket: Duplex) => {
    inFlight.set(socket, 0);
    socket.once('close', () => inFlight.delete(socket));
  });
  app.server.on('request', (request: IncomingMessage, response: ServerResponse) => {
    const socket = request.socket;
    inFlight.set(socket, (inFlight.get(socket) ?? 0) + 1);
    response.once('close', () => {
      const left = (inFlight.get(socket) ?? 1) - 1;
      inFlight.set(socket, left);
      if (closing && left === 0) socket.end();
    });
  });
  // An upgraded socket belongs to its WebSocket, which is closed with a close frame, not cut.
  app.server.on('upgrade', (_request: IncomingMessage, socket: Duplex) => inFlight.set(socket, Number.POSITIVE_INFINITY));

  app.addHook('preClose', async () => {
    closing = true;
    connections.stopAll();
    for (const [socket, requests] of inFlight) if (requests === 0) socket.end();
  });
}
