// The OpenAPI 3.1 document, generated from the route table and the same zod schemas that validate
// requests: a route's `doc` says what it is for, its schemas say what it takes.
import { z } from 'zod';
import type { Route } from './server.js';

export interface ResponseDoc {
  description: string;
  example?: unknown;
  contentType?: string;
  /** JSON Schema of the response body. */
  schema?: Record<string, unknown>;
}

export interface RouteDoc {
  summary: string;
  description?: string;
  tag: string;
  query?: z.ZodObject;
  /** Path parameters in order, with their descriptions. */
  pathParams?: { name: string; description: string; schema?: Record<string, unknown> }[];
  body?: { schema: z.ZodType; description?: string; example?: unknown; contentTypes?: string[] };
  responses: Record<number, ResponseDoc>;
}

const jsonSchema = (schema: z.ZodType): Record<string, unknown> => {
  const s = z.toJSONSchema(schema, { io: 'input', unrepresentable: 'any', target: 'draft-2020-12' }) as Record<string, unknown>;
  delete s.$schema;
  return s;
};

const validationErrorSchema = {
  type: 'object',
  properties: {
    detail: {
      type: 'array',
      items: {
        type: 'object',
        properties: { loc: { type: 'array', items: { type: ['string', 'integer'] } }, msg: { type: 'string' }, type: { type: 'string' } },
        required: ['loc', 'msg', 'type'],
      },
    },
  },
  required: ['detail'],
};

const plainErrorSchema = { type: 'object', properties: { detail: { type: 'string' } }, required: ['detail'] };

export function buildOpenApi(routes: Route[], version: string): Record<string, unknown> {
  const paths: Record<string, Record<string, unknown>> = {};
  for (const route of routes) {
    const doc = route.doc;
    if (!doc) continue;
    const path = route.path.replace(/:([A-Za-z_]+)/g, '{$1}');
    const method = route.method === 'del' ? 'delete' : route.method;
    const parameters: Record<string, unknown>[] = [];
    for (const p of doc.pathParams ?? []) {
      parameters.push({ name: p.name, in: 'path', required: true, description: p.description, schema: p.schema ?? { type: 'string' } });
    }
    if (doc.query) {
      const q = jsonSchema(doc.query) as { properties?: Record<string, Record<string, unknown>>; required?: string[] };
      for (const [name, schema] of Object.entries(q.properties ?? {})) {
        const { description, ...rest } = schema;
        const param: Record<string, unknown> = { name, in: 'query', required: (q.required ?? []).includes(name) && !('default' in rest), schema: rest };
        if (description) param.description = description;
        if (rest.type === 'array') {
          param.style = 'form';
          param.explode = true;
        }
        parameters.push(param);
      }
    }
    const op: Record<string, unknown> = { summary: doc.summary, tags: [doc.tag], operationId: `${method}${path.replace(/[^A-Za-z0-9]+/g, '_')}` };
    if (doc.description) op.description = doc.description;
    if (parameters.length) op.parameters = parameters;
    if (doc.body) {
      const content: Record<string, unknown> = {};
      for (const ct of doc.body.contentTypes ?? ['application/json']) {
        content[ct] = { schema: jsonSchema(doc.body.schema), ...(doc.body.example !== undefined && ct === 'application/json' ? { example: doc.body.example } : {}) };
      }
      op.requestBody = { required: true, content, ...(doc.body.description ? { description: doc.body.description } : {}) };
    }
    const responses: Record<string, unknown> = {};
    for (const [status, r] of Object.entries(doc.responses)) {
      const ct = r.contentType ?? 'application/json';
      const media: Record<string, unknown> = {};
      if (r.schema) media.schema = r.schema;
      if (r.example !== undefined) media.example = r.example;
      responses[status] = { description: r.description, content: { [ct]: media } };
    }
    if (doc.query || doc.body || doc.pathParams) {
      responses['422'] ??= { description: 'Validation error (FastAPI shape)', content: { 'application/json': { schema: validationErrorSchema } } };
    }
    if (route.maxBodyBytes !== undefined) {
      responses['413'] ??= { description: `Body larger than ${route.maxBodyBytes} bytes`, content: { 'application/json': { schema: plainErrorSchema } } };
    }
    if (route.path.startsWith('/v1/')) {
      responses['503'] ??= { description: 'Recovering, stopping, or a shard is unavailable (with Retry-After)', content: { 'application/json': { schema: plainErrorSchema } } };
    }
    (paths[path] ??= {})[method] = op;
  }
  return {
    openapi: '3.1.0',
    info: {
      title: 'Telemetry engine',
      version,
      description:
        'Device telemetry: ingest events (idempotent by event_id), recent events, aggregates, tag search, and alerts over Server-Sent Events. Times are ISO 8601 (UTC unless an offset is given) or epoch milliseconds.',
    },
    paths,
  };
}
