// GET /docs: Swagger UI served from the process itself (swagger-ui-dist), so the interactive
// documentation works with no internet; it reads GET /openapi.json.
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import type { Route } from './server.js';

const require = createRequire(import.meta.url);

const ASSETS: Record<string, string> = {
  'swagger-ui.css': 'text/css; charset=utf-8',
  'swagger-ui-bundle.js': 'text/javascript; charset=utf-8',
  'swagger-ui-standalone-preset.js': 'text/javascript; charset=utf-8',
  'favicon-32x32.png': 'image/png',
  'favicon-16x16.png': 'image/png',
};

const PAGE = `<!doctype html>
<html lang="en">
<head>
  <meta charset="utf-8">
  <title>Telemetry engine API</title>
  <link rel="stylesheet" href="/docs/swagger-ui.css">
  <link rel="icon" type="image/png" href="/docs/favicon-32x32.png">
</head>
<body>
  <div id="swagger-ui"></div>
  <script src="/docs/swagger-ui-bundle.js"></script>
  <script src="/docs/swagger-ui-standalone-preset.js"></script>
  <script>
    window.ui = SwaggerUIBundle({
      url: '/openapi.json',
      dom_id: '#swagger-ui',
      deepLinking: true,
      presets: [SwaggerUIBundle.presets.apis, SwaggerUIStandalonePreset],
      layout: 'StandaloneLayout',
    });
  </script>
</body>
</html>
`;

export function docsRoutes(openapi: () => string): Route[] {
  const dir = dirname(require.resolve('swagger-ui-dist/package.json'));
  // Read lazily, once: the bundle is large and most processes never serve it.
  const cache = new Map<string, Buffer>();
  const asset = (name: string): Buffer => {
    let buf = cache.get(name);
    if (buf === undefined) cache.set(name, (buf = readFileSync(join(dir, name))));
    return buf;
  };
  return [
    { method: 'get', path: '/openapi.json', handle: () => ({ status: 200, body: openapi() }) },
    { method: 'get', path: '/docs', handle: () => ({ status: 200, body: PAGE, contentType: 'text/html; charset=utf-8' }) },
    {
      method: 'get',
      path: '/docs/:file',
      handle(ctx) {
        const name = ctx.params[0]!;
        const type = ASSETS[name];
        if (type === undefined) return { status: 404, body: JSON.stringify({ detail: 'Not Found' }) };
        return { status: 200, body: asset(name), contentType: type, headers: { 'Cache-Control': 'public, max-age=86400' } };
      },
    },
  ];
}
