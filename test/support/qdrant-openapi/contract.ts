/**
 * Qdrant's published OpenAPI schema (openapi-v1.16.x.json beside this file, see README.md) as a
 * contract: every request that reaches the Qdrant stand-in (operation, path and query parameters,
 * JSON body) and every JSON answer it gives (by status: `200`, `4XX`, `default`) is validated with
 * ajv. Violations are collected, not thrown, so a test can assert there were none.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { Ajv, type ValidateFunction } from 'ajv';

interface Parameter {
  name: string;
  in: 'path' | 'query' | 'header';
  required?: boolean;
  schema: Record<string, unknown>;
}
interface Operation {
  operationId: string;
  parameters?: Parameter[];
  requestBody?: { content: Record<string, { schema: Record<string, unknown> }> };
  responses: Record<string, { content?: Record<string, { schema: Record<string, unknown> }> }>;
}
type Document = {
  info: { version: string };
  paths: Record<string, Record<string, Operation>>;
  components: { schemas: Record<string, unknown> };
};

/**
 * OpenAPI 3.0's `nullable: true` as JSON Schema: `anyOf: [the rest, {type: null}]` (Qdrant's schema
 * puts it beside `anyOf`/`$ref` without a `type`, which ajv's own `nullable` support refuses).
 */
function withoutNullable(value: unknown): unknown {
  if (Array.isArray(value)) return value.map(withoutNullable);
  if (typeof value !== 'object' || value === null) return value;
  const { nullable, ...rest } = value as Record<string, unknown>;
  const converted = Object.fromEntries(Object.entries(rest).map(([k, v]) => [k, withoutNullable(v)]));
  return nullable === true ? { anyOf: [converted, { type: 'null' }] } : converted;
}

export const OPENAPI_FILE = join(__dirname, 'openapi-v1.16.x.json');

export interface Violation {
  request: string;
  problem: string;
}

export class QdrantContract {
  readonly version: string;
  readonly violations: Violation[] = [];
  private readonly document: Document;
  private readonly ajv: Ajv;
  private readonly compiled = new Map<string, ValidateFunction>();
  private readonly routes: { method: string; pattern: RegExp; template: string; operation: Operation }[] = [];

  constructor(file = OPENAPI_FILE) {
    this.document = withoutNullable(JSON.parse(readFileSync(file, 'utf8'))) as Document;
    this.version = this.document.info.version;
    // Qdrant's numeric formats (uint64, float...) are not JSON-schema formats, so formats are not
    // checked (their minimum/maximum still are).
    this.ajv = new Ajv({ strict: false, allErrors: true, validateFormats: false });
    this.ajv.addSchema({ $id: 'qdrant', components: this.document.components }, 'qdrant');
    for (const [template, methods] of Object.entries(this.document.paths)) {
      const source = template.replace(/[.*+?^$()|[\]\\]/g, '\\$&').replace(/\\?\{[^}]+\\?\}/g, '([^/]+)');
      for (const [method, operation] of Object.entries(methods)) {
        this.routes.push({ method: method.toUpperCase(), pattern: new RegExp(`^${source}$`), template, operation });
      }
    }
    // A literal path (`/collections/aliases`) wins over a template (`/collections/{collection_name}`).
    this.routes.sort((a, b) => (a.template.match(/\{/g)?.length ?? 0) - (b.template.match(/\{/g)?.length ?? 0));
  }

  private validator(schema: Record<string, unknown>): ValidateFunction {
    const text = JSON.stringify(schema);
    let validate = this.compiled.get(text);
    if (!validate) {
      // Local references point into the components added above.
      validate = this.ajv.compile(JSON.parse(text.replaceAll('"#/components/', '"qdrant#/components/')) as Record<string, unknown>);
      this.compiled.set(text, validate);
    }
    return validate;
  }

  private check(request: string, what: string, schema: Record<string, unknown>, value: unknown): void {
    const validate = this.validator(schema);
    if (!validate(value)) {
      const errors = (validate.errors ?? []).slice(0, 3).map((e) => `${e.instancePath || '/'} ${e.message ?? ''}`).join('; ');
      this.violations.push({ request, problem: `${what}: ${errors}` });
    }
  }

  /** The operation a request addresses, or undefined (recorded as a violation) when Qdrant has none. */
  operation(method: string, pathname: string): Operation | undefined {
    const found = this.routes.find((r) => r.method === method && r.pattern.test(pathname));
    if (!found) this.violations.push({ request: `${method} ${pathname}`, problem: 'no such operation in Qdrant\'s OpenAPI schema' });
    return found?.operation;
  }

  /** Query parameters: known to the operation, required ones present, values of the declared type. */
  checkRequest(method: string, pathname: string, query: URLSearchParams): void {
    const operation = this.operation(method, pathname);
    if (!operation) return;
    const request = `${method} ${pathname} (${operation.operationId})`;
    const declared = new Map((operation.parameters ?? []).filter((p) => p.in === 'query').map((p) => [p.name, p]));
    for (const name of new Set(query.keys())) {
      const parameter = declared.get(name);
      if (!parameter) {
        this.violations.push({ request, problem: `query parameter ${name} is not in the schema` });
        continue;
      }
      const raw = query.get(name)!;
      const type = parameter.schema.type;
      const value = type === 'boolean' ? (raw === 'true' ? true : raw === 'false' ? false : raw) : type === 'integer' || type === 'number' ? Number(raw) : raw;
      this.check(request, `query parameter ${name}`, parameter.schema, value);
    }
    for (const parameter of declared.values()) {
      if (parameter.required && !query.has(parameter.name)) this.violations.push({ request, problem: `required query parameter ${parameter.name} is missing` });
    }
  }

  checkRequestBody(method: string, pathname: string, body: unknown): void {
    const operation = this.operation(method, pathname);
    if (!operation) return;
    const schema = operation.requestBody?.content['application/json']?.schema;
    const request = `${method} ${pathname} (${operation.operationId})`;
    if (!schema) return void this.violations.push({ request, problem: 'a JSON body where the schema has none' });
    this.check(request, 'request body', schema, body);
  }

  checkResponse(method: string, pathname: string, status: number, body: unknown): void {
    const operation = this.operation(method, pathname);
    if (!operation) return;
    const request = `${method} ${pathname} (${operation.operationId})`;
    const answer = operation.responses[String(status)] ?? operation.responses[`${String(status)[0]}XX`] ?? operation.responses.default;
    const schema = answer?.content?.['application/json']?.schema;
    if (!schema) return void this.violations.push({ request, problem: `no JSON answer with status ${status} in the schema` });
    this.check(request, `answer ${status}`, schema, body);
  }
}
