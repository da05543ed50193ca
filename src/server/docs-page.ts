// The /docs page: renders /openapi.json in the browser with a few lines of script, so it needs no CDN and no build
// step. Everything it shows goes in through textContent, never innerHTML.

export const DOCS_HTML = `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>Taskhub API</title>
<link rel="icon" href="data:,">
<style>
  body { font: 15px/1.5 system-ui, sans-serif; margin: 0 auto; max-width: 62rem; padding: 1rem 1.5rem; color: #1d2430; }
  h1 { margin-bottom: 0; } h2 { margin-top: 2rem; border-bottom: 1px solid #dde; }
  details { border: 1px solid #dde; border-radius: 6px; margin: .5rem 0; }
  summary { cursor: pointer; padding: .45rem .7rem; }
  details > div { padding: 0 .9rem .7rem; }
  .m { display: inline-block; min-width: 4.2rem; font: 600 12px monospace; text-transform: uppercase; }
  .get { color: #1a6fb3; } .post { color: #23863a; } .put { color: #a56b00; } .delete { color: #b42318; }
  code, pre { font: 13px/1.4 ui-monospace, monospace; } pre { background: #f5f6f8; padding: .6rem; overflow: auto; }
  table { border-collapse: collapse; } td, th { text-align: left; padding: .15rem .8rem .15rem 0; vertical-align: top; }
  a { color: #1a6fb3; }
</style>
</head>
<body>
<h1>Taskhub API</h1>
<p id="intro">Loading <a href="openapi.json">openapi.json</a>…</p>
<div id="ops"></div>
<h2>Schemas</h2>
<div id="schemas"></div>
<script>
(async () => {
  const el = (tag, props = {}, ...children) => {
    const node = Object.assign(document.createElement(tag), props);
    for (const child of children) node.append(child);
    return node;
  };
  // Descriptions mark code with backticks.
  const prose = (text) => {
    const node = document.createDocumentFragment();
    String(text || '').split('\x60').forEach((part, i) => node.append(i % 2 ? el('code', { textContent: part }) : part));
    return node;
  };
  const ref = (schema) => schema && schema.$ref ? schema.$ref.split('/').pop() : null;
  const schemaView = (schema) => {
    const name = ref(schema);
    if (name) return el('a', { href: '#schema-' + name, textContent: name });
    return el('pre', { textContent: JSON.stringify(schema, null, 2) });
  };
  const spec = await (await fetch('openapi.json')).json();
  document.getElementById('intro').textContent = spec.info.description;
  const ops = document.getElementById('ops');
  const byTag = new Map();
  for (const [path, methods] of Object.entries(spec.paths)) {
    for (const [method, op] of Object.entries(methods)) {
      const tag = (op.tags || ['other'])[0];
      if (!byTag.has(tag)) byTag.set(tag, []);
      byTag.get(tag).push([method, path, op]);
    }
  }
  for (const [tag, list] of byTag) {
    ops.append(el('h2', { textContent: tag }));
    for (const [method, path, op] of list) {
      const body = el('div');
      if (op.description) body.append(el('p', {}, prose(op.description)));
      if (op.parameters.length) {
        const table = el('table', {}, el('tr', {}, el('th', { textContent: 'parameter' }), el('th', { textContent: 'in' }),
          el('th', { textContent: 'schema' }), el('th', { textContent: 'description' })));
        for (const p of op.parameters) {
          table.append(el('tr', {}, el('td', {}, el('code', { textContent: p.name + (p.required ? ' *' : '') })),
            el('td', { textContent: p.in }), el('td', {}, el('code', { textContent: ref(p.schema) || p.schema.type || '' })),
            el('td', {}, prose(p.description))));
        }
        body.append(table);
      }
      if (op.requestBody) {
        for (const [type, media] of Object.entries(op.requestBody.content)) {
          body.append(el('p', {}, el('b', { textContent: 'Request body ' }), el('code', { textContent: type + ' ' }),
            op.requestBody.required ? '' : '(optional) '), schemaView(media.schema));
        }
      }
      for (const [status, answer] of Object.entries(op.responses)) {
        const line = el('p', {}, el('b', { textContent: status + ' ' }), prose(answer.description), ' ');
        for (const [type, media] of Object.entries(answer.content || {})) {
          line.append(el('code', { textContent: type + ' ' }), schemaView(media.schema), ' ');
        }
        body.append(line);
      }
      ops.append(el('details', {}, el('summary', {}, el('span', { className: 'm ' + method, textContent: method }),
        el('code', { textContent: path }), ' ' + (op.summary || '')), body));
    }
  }
  const schemas = document.getElementById('schemas');
  for (const [name, schema] of Object.entries(spec.components.schemas)) {
    const details = el('details', { id: 'schema-' + name }, el('summary', {}, el('code', { textContent: name })),
      el('div', {}, el('p', {}, prose(schema.description)), el('pre', { textContent: JSON.stringify(schema, null, 2) })));
    schemas.append(details);
  }
  addEventListener('hashchange', () => { const d = document.getElementById(location.hash.slice(1)); if (d) d.open = true; });
})().catch((error) => { document.getElementById('intro').textContent = 'Could not load openapi.json: ' + error; });
</script>
</body>
</html>
`;
