// The dashboard at /dashboard, served by the server itself with no build step: src/dashboard/ holds an HTML page, a
// stylesheet and TypeScript modules whose types are stripped on first request (Node's own stripTypeScriptTypes, as
// for the client SDK) and cached. Browsers load the modules by their .ts URLs (the content type is what counts), and
// sdk.ts is answered with the client SDK bundle. The files are public (the page holds no data); the page then calls
// the API with the admin token the user gives it, kept in sessionStorage.
//
// The published package serves dist/dashboard/ instead: the same modules compiled to .js by scripts/build.ts (the page
// loads app.js, which imports sdk.js and the rest), served as they are.
import { createHash } from 'node:crypto';
import { readdirSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { stripTypeScriptTypes } from 'node:module';
import type { FastifyPluginAsync, FastifyReply, FastifyRequest } from 'fastify';
import { clientModuleSource } from '../../client/browser-bundle.ts';
import type { RouteContext } from '../context.ts';

const ROOT = new URL('../../dashboard/', import.meta.url);

const CONTENT_TYPES: Record<string, string> = {
  '.html': 'text/html; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.ts': 'text/javascript; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.svg': 'image/svg+xml',
};

/**
 * Only the page's own files, styles and scripts; the token travels in an Authorization header, so connect-src 'self'
 * is all the API needs. No inline script or style anywhere.
 */
const PAGE_CSP =
  "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; " +
  "frame-ancestors 'none'; base-uri 'none'; form-action 'none'";

interface Asset {
  body: Buffer;
  contentType: string;
  etag: string;
}

/** The files under src/dashboard/, by path relative to it ('app.ts', 'views/tasks.ts'), found once at startup. */
function listFiles(dir: URL, prefix = ''): string[] {
  const out: string[] = [];
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    if (entry.isDirectory()) out.push(...listFiles(new URL(`${entry.name}/`, dir), `${prefix}${entry.name}/`));
    else if (Object.hasOwn(CONTENT_TYPES, extension(entry.name)) && !entry.name.endsWith('.d.ts')) out.push(`${prefix}${entry.name}`);
  }
  return out;
}

function extension(name: string): string {
  const dot = name.lastIndexOf('.');
  return dot < 0 ? '' : name.slice(dot);
}

async function build(path: string): Promise<Asset> {
  const ext = extension(path);
  let text: string;
  if (path === 'sdk.ts' || path === 'sdk.js') text = await clientModuleSource();
  else {
    text = await readFile(new URL(path, ROOT), 'utf8');
    if (ext === '.ts') text = stripTypeScriptTypes(text, { mode: 'strip' });
  }
  const body = Buffer.from(text);
  return { body, contentType: CONTENT_TYPES[ext], etag: `"${createHash('sha256').update(body).digest('base64url').slice(0, 27)}"` };
}

export const dashboardRoutes: FastifyPluginAsync<RouteContext> = async (app) => {
  const files = new Set(listFiles(ROOT));
  const cache = new Map<string, Promise<Asset>>();
  const asset = (path: string): Promise<Asset> => {
    let pending = cache.get(path);
    if (!pending) {
      pending = build(path);
      // A failed build (a file being edited) is tried again on the next request.
      pending.catch(() => cache.delete(path));
      cache.set(path, pending);
    }
    return pending;
  };

  const send = async (request: FastifyRequest, reply: FastifyReply, path: string) => {
    const file = await asset(path);
    reply
      .header('content-type', file.contentType)
      .header('etag', file.etag)
      // Revalidated on every load (a cheap 304), so an upgraded server is never shown with stale scripts.
      .header('cache-control', 'no-cache');
    if (path.endsWith('.html')) reply.header('content-security-policy', PAGE_CSP);
    if (request.headers['if-none-match'] === file.etag) return reply.code(304).send();
    return reply.send(file.body);
  };

  // Request logs at warn: a dashboard's page loads are not worth a log line each.
  const page = { config: { access: 'public' as const }, schema: { hide: true }, logLevel: 'warn' as const };
  app.get('/dashboard', page, (request, reply) => send(request, reply, 'index.html'));
  app.get('/dashboard/', page, (request, reply) => send(request, reply, 'index.html'));
  app.get<{ Params: { '*': string } }>('/dashboard/*', page, async (request, reply) => {
    const path = request.params['*'];
    if (!files.has(path)) {
      return reply.code(404).type('text/plain; charset=utf-8').send(`no such dashboard file: ${path}\n`);
    }
    return send(request, reply, path);
  });
};
