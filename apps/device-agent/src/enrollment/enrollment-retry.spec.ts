import { describe, expect, it } from 'vitest';
import { EnrollmentError, isTransientEnrollmentError } from './enrollment.client.js';

describe('which enrollment failures the agent tries again', () => {
  it.each(['timeout', 'unreachable', 'bad_response', 'unavailable', 'rate_limited', 'internal', 'http_502'])('%s: again', (code) => {
    expect(isTransientEnrollmentError(new EnrollmentError('x', code))).toBe(true);
  });
  it.each(['unauthorized', 'conflict', 'invalid_request', 'forbidden', 'untrusted', 'http_404'])(
    '%s: never (answered alike every time)',
    (code) => {
      expect(isTransientEnrollmentError(new EnrollmentError('x', code))).toBe(false);
    },
  );
  it('an error of another kind is not an enrollment failure', () => {
    expect(isTransientEnrollmentError(new Error('timeout'))).toBe(false);
  });
});
