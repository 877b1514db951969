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
