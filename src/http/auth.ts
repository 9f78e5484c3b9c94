// Optional bearer-token auth. API_TOKEN grants everything (writes, alert management, reads);
// READ_TOKEN grants reads. With neither set, everything is open (the embedded default, for a
// service on localhost); set them for anything exposed. Tokens are compared in constant time, as
// fixed-length digests, so neither the content nor the length of a token leaks through timing.
import { createHash, timingSafeEqual } from 'node:crypto';

const digest = (s: string): Buffer => createHash('sha256').update(s).digest();

export interface Tokens {
  apiToken?: string | undefined;
  readToken?: string | undefined;
}

/** undefined when no token is configured: no check at all. */
export function makeAuthorizer(tokens: Tokens): ((access: 'read' | 'write', authorization: string) => boolean) | undefined {
  if (tokens.apiToken === undefined && tokens.readToken === undefined) return undefined;
  const api = tokens.apiToken === undefined ? undefined : digest(tokens.apiToken);
  const read = tokens.readToken === undefined ? undefined : digest(tokens.readToken);
  return (access, authorization) => {
    const m = /^Bearer\s+(\S+)\s*$/i.exec(authorization);
    const given = digest(m ? m[1]! : '');
    const isApi = api !== undefined && timingSafeEqual(given, api);
    if (access === 'write') return api === undefined || isApi;
    // Reads are open unless READ_TOKEN is set; API_TOKEN always reads too.
    if (read === undefined) return true;
    return isApi || timingSafeEqual(given, read);
  };
}
