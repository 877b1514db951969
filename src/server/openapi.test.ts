import { describe, expect, it } from 'vitest';
import { createOpenApiDocument } from './openapi.js';

type Operation = { security?: unknown; responses: Record<string, { $ref?: string }> };

describe('createOpenApiDocument', () => {
  const document = createOpenApiDocument();
  const operations = Object.values(document.paths as Record<string, Record<string, Operation>>).flatMap(
    (path) => Object.values(path),
  );

  it('lists the shared 429 and 503 (with Retry-After) on the runs operations', () => {
    const submit = (document.paths['/v1/runs'] as { post: Operation }).post;
    expect(submit.responses['429']).toEqual({ $ref: '#/components/responses/RateLimited' });
    expect(submit.responses['503']).toEqual({ $ref: '#/components/responses/Unavailable' });
    const { RateLimited, Unavailable } = document.components.responses;
    expect(Object.keys(RateLimited.headers)).toEqual(['Retry-After', 'retry-after-ms']);
    expect(Object.keys(Unavailable.headers)).toEqual(['Retry-After']);
    expect(RateLimited.description).toContain('rate_limited');
    expect(Unavailable.description).toContain('database_unavailable');
    expect(Unavailable.description).toContain('request_timeout');
  });

  it('adds them to every authenticated operation and to no public one', () => {
    for (const operation of operations) {
      const shared =
        operation.responses['429'] !== undefined && operation.responses['503']?.$ref !== undefined;
      expect(shared).toBe(operation.security !== undefined);
    }
    expect(operations.filter((operation) => operation.security !== undefined).length).toBeGreaterThan(8);
  });
});

describe('the evals in the document', () => {
  it('lists GET /v1/evals and /v1/evals/{id} with their bodies', () => {
    const document = createOpenApiDocument();
    const paths = document.paths as Record<string, Record<string, { parameters?: { name: string }[] }>>;
    expect(Object.keys(paths['/v1/evals'] ?? {})).toEqual(['get']);
    expect(Object.keys(paths['/v1/evals/{id}'] ?? {})).toEqual(['get']);
    expect(paths['/v1/evals']!.get!.parameters?.map((parameter) => parameter.name)).toEqual(
      expect.arrayContaining(['agent', 'prompt_version', 'limit', 'cursor']),
    );
    const body = (path: string) =>
      JSON.stringify(
        (paths[path]!.get as unknown as { responses: Record<string, { content?: unknown }> }).responses['200']
          ?.content,
      );
    expect(body('/v1/evals')).toContain('"next_cursor"');
    expect(body('/v1/evals')).toContain('"pass_rate"');
    expect(body('/v1/evals/{id}')).toContain('"cases"');
    expect(body('/v1/evals/{id}')).toContain('"verdict"');
  });
});
