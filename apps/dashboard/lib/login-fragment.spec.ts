import { describe, expect, it } from 'vitest';
import { tokenFromFragment } from './login-fragment';

describe('tokenFromFragment', () => {
  it('reads the token from a one-click sign-in URL fragment', () => {
    expect(tokenFromFragment('#token=eft_op_abc')).toBe('eft_op_abc');
    expect(tokenFromFragment('#foo=1&token=a%2Bb')).toBe('a+b');
  });

  it('returns null when there is no token', () => {
    expect(tokenFromFragment('')).toBeNull();
    expect(tokenFromFragment('#token=')).toBeNull();
    expect(tokenFromFragment('#other=1')).toBeNull();
  });
});
