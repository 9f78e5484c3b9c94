// The error catalogue: every error a client can see, with its stable code and HTTP status. Errors are
// matched by `code`, never by `instanceof`, because they cross the worker-thread boundary, which
// drops classes.
//
// Bodies follow FastAPI, so clients of the original service keep working: a validation error is
// `{"detail":[{"loc":[...],"msg":"...","type":"..."}]}`, anything else `{"detail":"..."}`.

/** One FastAPI-shaped validation issue. */
export interface Issue {
  loc: (string | number)[];
  msg: string;
  type: string;
}

export const ErrorCodes = {
  VALIDATION: 422,
  TOO_MANY_BUCKETS: 422,
  BAD_REQUEST: 400,
  BODY_TOO_LARGE: 413,
  NOT_FOUND: 404,
  METHOD_NOT_ALLOWED: 405,
  UNSUPPORTED_MEDIA_TYPE: 415,
  UNAUTHORIZED: 401,
  REQUEST_TIMEOUT: 408,
  TOO_MANY_DEVICES: 429,
  OVERLOADED: 503,
  NOT_READY: 503,
  SHARD_UNAVAILABLE: 503,
  INTERNAL: 500,
} as const;
export type ErrorCode = keyof typeof ErrorCodes;

export class ApiError extends Error {
  readonly status: number;
  constructor(
    readonly code: ErrorCode,
    message: string,
    readonly issues?: Issue[],
    readonly headers?: Record<string, string>,
  ) {
    super(message);
    this.status = ErrorCodes[code];
  }

  /** The JSON body sent to the client. */
  body(): string {
    if (this.issues !== undefined) return JSON.stringify({ detail: this.issues });
    return JSON.stringify({ detail: this.message });
  }
}

export const validationError = (issues: Issue[]): ApiError =>
  new ApiError('VALIDATION', issues.map((i) => `${i.loc.join('.')}: ${i.msg}`).join('; '), issues);

export const issue = (loc: (string | number)[], msg: string, type = 'value_error'): Issue => ({ loc, msg, type });

/** What a worker sends back instead of throwing: plain data that survives structured clone. */
export interface WireError {
  code: ErrorCode;
  message: string;
  issues?: Issue[];
}

export const toWire = (e: ApiError): WireError =>
  e.issues ? { code: e.code, message: e.message, issues: e.issues } : { code: e.code, message: e.message };

export const fromWire = (w: WireError): ApiError => new ApiError(w.code, w.message, w.issues);
