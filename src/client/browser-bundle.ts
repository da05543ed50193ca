// Serves the client SDK to browsers with no build step: reads src/client/index.ts and the files it imports, strips
// their types with Node's own `module.stripTypeScriptTypes`, and joins them into one self-contained ES module.
// Node-only (reads files), so it is deliberately not reachable from index.ts and never ends up in the bundle.
//
// Each file becomes a function scope that returns its exports, in dependency order: names private to one file cannot
// clash with another's, and nothing needs a JavaScript parser. In exchange the client files keep to a small, checked
// set of import/export forms (named imports and exports of relative `.ts` files); anything else fails loudly here
// rather than producing a module that breaks in the browser.
//
// The published package runs compiled JavaScript (dist/) and carries no TypeScript to read: there the bundle was built
// once by scripts/build.ts and is read from the file beside this module.
import { readFile } from 'node:fs/promises';
import { stripTypeScriptTypes } from 'node:module';

const ENTRY = new URL('./index.ts', import.meta.url);

/** The prebuilt bundle's file name in dist/client/ (written by scripts/build.ts). */
export const BROWSER_BUNDLE_FILE = 'taskhub-client.browser.js';

/** Running compiled (dist/), where the sources are not shipped, rather than from src/. */
const COMPILED = import.meta.url.endsWith('.js');

interface ModuleRecord {
  url: string;
  /** The variable holding this module's exports object in the bundle. */
  ref: string;
  body: string;
  /** `exportedName: expression` pairs that the module scope returns. */
  exports: Array<[string, string]>;
  deps: string[];
}

let cached: Promise<string> | null = null;

/** The SDK as one ES module (`import { TaskhubClient } from '/client.js'`). Built once per process, then cached. */
export function clientModuleSource(): Promise<string> {
  cached ??= (COMPILED ? readFile(new URL(`./${BROWSER_BUNDLE_FILE}`, import.meta.url), 'utf8') : build()).catch((error: unknown) => {
    cached = null; // let a later call try again (e.g. after the file is fixed in development)
    throw error;
  });
  return cached;
}

async function build(): Promise<string> {
  const refs = new Map<string, string>();
  const refOf = (url: string): string => {
    let ref = refs.get(url);
    if (!ref) refs.set(url, (ref = `__taskhub_m${refs.size}`));
    return ref;
  };
  const done = new Map<string, ModuleRecord>();
  const order: ModuleRecord[] = [];
  const visiting = new Set<string>();

  const visit = async (url: string, from: string | null): Promise<ModuleRecord> => {
    const seen = done.get(url);
    if (seen) return seen;
    if (visiting.has(url)) throw new Error(`client bundle: import cycle through ${relativeName(url)} (from ${from && relativeName(from)})`);
    visiting.add(url);
    const source = await readFile(new URL(url), 'utf8');
    const record = transform(url, stripTypeScriptTypes(source, { mode: 'strip' }), refOf);
    for (const dep of record.deps) await visit(dep, url);
    visiting.delete(url);
    done.set(url, record);
    order.push(record); // after its dependencies: a post-order walk, so each scope runs after what it imports
    return record;
  };

  const entry = await visit(ENTRY.href, null);
  const out = ['// Taskhub client SDK (taskhub/client), generated from src/client/*.ts with the types stripped.'];
  for (const m of order) {
    const returned = m.exports.map(([name, expr]) => (name === expr ? name : `${name}: ${expr}`)).join(', ');
    out.push(`// ${relativeName(m.url)}`, `const ${m.ref} = (() => {`, m.body.trim(), `return { ${returned} };`, '})();');
  }
  out.push(`export const { ${entry.exports.map(([name]) => name).join(', ')} } = ${entry.ref};`, '');
  return out.join('\n');
}

const IDENT = '[A-Za-z_$][\\w$]*';
/** A whole import statement, possibly over several lines, up to its `from '...'`. */
const IMPORT_RE = /^[ \t]*import\b[\s\S]*?\bfrom\s*(['"])([^'"\n]+)\1[ \t]*;?/gm;
const NAMED_IMPORT_RE = /^\s*import\s*\{([^}]*)\}\s*from\s*(['"])([^'"]+)\2/;
const EXPORT_FROM_RE = /^[ \t]*export\s*\{([^}]*)\}\s*from\s*(['"])([^'"\n]+)\2[ \t]*;?/gm;
const EXPORT_LIST_RE = /^[ \t]*export\s*\{([^}]*)\}[ \t]*;?/gm;
const EXPORT_DECL_RE = new RegExp(`^([ \\t]*)export\\s+((?:async\\s+)?function\\s*\\*?\\s*|class\\s+|(?:const|let|var)\\s+)(${IDENT})`, 'gm');
const BINDING_RE = new RegExp(`^(${IDENT})(?:\\s+as\\s+(${IDENT}))?$`);

/** Rewrites one stripped file into the body of a function scope; records its dependencies and exports. */
function transform(url: string, code: string, refOf: (url: string) => string): ModuleRecord {
  const name = relativeName(url);
  const deps: string[] = [];
  const exports: Array<[string, string]> = [];
  const resolve = (specifier: string): string => {
    if (!specifier.startsWith('./') && !specifier.startsWith('../')) {
      throw new Error(`client bundle: ${name} imports "${specifier}", which a browser cannot load: the client may import only relative .ts files (and types from anywhere)`);
    }
    if (!specifier.endsWith('.ts')) throw new Error(`client bundle: ${name} imports "${specifier}": use the .ts path`);
    const dep = new URL(specifier, url).href;
    if (!deps.includes(dep)) deps.push(dep);
    return dep;
  };
  const bindings = (list: string, where: string): Array<[string, string]> =>
    list
      .split(',')
      .map((s) => s.trim())
      .filter(Boolean)
      .map((spec) => {
        const m = BINDING_RE.exec(spec);
        if (!m) throw new Error(`client bundle: ${name}: cannot handle "${spec}" in ${where}`);
        return [m[1], m[2] ?? m[1]];
      });

  // Re-exports first (they also end in `from '...'`): they read the dependency's exports object.
  code = code.replace(EXPORT_FROM_RE, (_all, list: string, _q: string, specifier: string) => {
    const ref = refOf(resolve(specifier));
    for (const [imported, as] of bindings(list, 'a re-export')) exports.push([as, `${ref}.${imported}`]);
    return '';
  });
  // Imports become destructuring of the dependency's exports object.
  code = code.replace(IMPORT_RE, (statement) => {
    const m = NAMED_IMPORT_RE.exec(statement);
    if (!m) throw new Error(`client bundle: ${name}: only named imports are supported: ${statement.trim()}`);
    const ref = refOf(resolve(m[3]));
    const names = bindings(m[1], 'an import');
    if (names.length === 0) return '';
    return `const { ${names.map(([imported, local]) => (imported === local ? local : `${imported}: ${local}`)).join(', ')} } = ${ref};`;
  });
  code = code.replace(EXPORT_LIST_RE, (_all, list: string) => {
    for (const [local, as] of bindings(list, 'an export list')) exports.push([as, local]);
    return '';
  });
  code = code.replace(EXPORT_DECL_RE, (_all, indent: string, keyword: string, declared: string) => {
    exports.push([declared, declared]);
    return `${indent}${keyword}${declared}`;
  });
  const leftover = /^[ \t]*(?:import|export)\b[^\n]*/m.exec(code);
  if (leftover) throw new Error(`client bundle: ${name}: unsupported statement: ${leftover[0].trim()}`);
  return { url, ref: refOf(url), body: code, exports, deps };
}

function relativeName(url: string): string {
  const i = url.lastIndexOf('/src/');
  return i >= 0 ? url.slice(i + 1) : url;
}
