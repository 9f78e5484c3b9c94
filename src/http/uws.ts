// The only module that imports uWebSockets.js. It loads the native binary directly: the package's
// own entry silently falls back to a slow pure-JS server when the binary does not load, and this
// service would rather refuse to start than run several times slower without saying so.
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import type * as Uws from 'uWebSockets.js';

export type { HttpRequest, HttpResponse, TemplatedApp, us_listen_socket } from 'uWebSockets.js';

const require = createRequire(import.meta.url);

export class UwsNativeMissingError extends Error {
  readonly code = 'UWS_NATIVE_MISSING';
}

let loaded: typeof Uws | undefined;

export function uws(): typeof Uws {
  if (loaded !== undefined) return loaded;
  const dir = dirname(require.resolve('uWebSockets.js/package.json'));
  const file = join(dir, 'binaries', `uws_${process.platform}_${process.arch}_${process.versions.modules}.node`);
  try {
    loaded = require(file) as typeof Uws;
  } catch (e) {
    throw new UwsNativeMissingError(
      `the uWebSockets.js native binary did not load (${file}: ${(e as Error).message}); ` +
        'refusing to start on the slow JavaScript fallback. Use Node.js 20 on linux/darwin x64/arm64.',
    );
  }
  if (typeof loaded.App !== 'function' || typeof loaded.us_listen_socket_close !== 'function') {
    throw new UwsNativeMissingError(`${file} is not the uWebSockets.js native module`);
  }
  return loaded;
}
