import { describe, expect, it } from 'vitest';
import { apiPaths, openApiDocument } from './openapi.js';

describe('the generated OpenAPI document', () => {
  it('renders every route of the table, with the error shape as one shared component', () => {
    // zod-openapi refuses a schema it cannot render (a transform in a response, say): that throws here
    const doc = openApiDocument();
    expect(doc.openapi).toBe('3.1.0');
    expect(Object.keys(doc.paths ?? {})).toEqual(Object.keys(apiPaths));
    expect(Object.keys(doc.components?.schemas ?? {})).toContain('ApiError');
    expect(doc.paths?.['/api/v1/devices/{id}']?.get?.responses?.['404']).toMatchObject({
      content: { 'application/json': { schema: { $ref: '#/components/schemas/ApiError' } } },
    });
  });

  it('describes query parameters from the shared schemas', () => {
    const params = openApiDocument().paths?.['/api/v1/devices']?.get?.parameters ?? [];
    expect(params).toContainEqual(
      expect.objectContaining({ in: 'query', name: 'after', description: expect.stringContaining('nextCursor') as unknown }),
    );
  });
});
