// Security headers on every answer, and request logs that never carry a token.
import type { FastifyInstance, FastifyRequest } from 'fastify';
import type { Logger } from 'pino';
import { redactUrl } from './errors.ts';

/**
 * Headers for an API that browsers call: no MIME sniffing, no framing, no Referer (a stream URL may carry a follow
 * token), and for /api/ answers (JSON and event streams, never pages) a CSP that allows nothing and no caching of
 * private data. Set in onRequest so that hijacked answers (SSE) and errors carry them too. Pages (/docs, the
 * dashboard) set their own CSP. HSTS belongs to whatever terminates TLS in front of the server.
 */
export function installSecurityHeaders(app: FastifyInstance): void {
  app.addHook('onRequest', async (request, reply) => {
    reply.header('x-content-type-options', 'nosniff');
    reply.header('x-frame-options', 'DENY');
    reply.header('referrer-policy', 'no-referrer');
    reply.header('cross-origin-opener-policy', 'same-origin');
    if (request.url.startsWith('/api/')) {
      reply.header('content-security-policy', "default-src 'none'; frame-ancestors 'none'");
      reply.header('cache-control', 'no-store');
    }
  });
}

/** Fastify's request log serializer, with `?access_token=` redacted from the URL. Headers are never logged. */
function requestForLog(request: FastifyRequest) {
  return {
    method: request.method,
    url: redactUrl(request.url),
    host: request.host,
    remoteAddress: request.ip,
    remotePort: request.socket?.remotePort,
  };
}

/** The logger Fastify should use: the given one, with the request serializer above. */
export function redactingLogger(logger: Logger): Logger {
  return logger.child({}, { serializers: { req: requestForLog } });
}
