import { describe, expect, it } from 'vitest';
import { errorIssues, readableErrorMessage } from './error-message';

describe('readableErrorMessage', () => {
  it('turns a forwarded zod issue list into one line per field', () => {
    const message = JSON.stringify([
      { code: 'too_small', path: ['latencyTargetMs'], message: 'Too small: expected number to be >0' },
      { code: 'custom', path: ['precisionOrder', 1], message: 'precisions must not repeat' },
    ]);
    expect(readableErrorMessage(message)).toBe(
      'latencyTargetMs: Too small: expected number to be >0; precisionOrder.1: precisions must not repeat',
    );
    expect(errorIssues(message).map((i) => i.field)).toEqual(['latencyTargetMs', 'precisionOrder.1']);
  });

  it('leaves plain messages and other JSON alone', () => {
    expect(readableErrorMessage('invalid policy YAML: deployment_strategy.x: unknown risk tier')).toBe(
      'invalid policy YAML: deployment_strategy.x: unknown risk tier',
    );
    expect(readableErrorMessage('[]')).toBe('[]');
    expect(readableErrorMessage('42')).toBe('42');
  });
});
