import { describe, expect, it } from 'vitest';
import { isSessionCredential, sessionCookieOptions } from './session';

describe('session cookie', () => {
  it('carries only a session id: a raw operator token or anything else is not forwarded', () => {
    expect(isSessionCredential('eft_ses_0123456789abcdefABCDEF-_')).toBe(true);
    expect(isSessionCredential('eft_op_0123456789abcdefABCDEF')).toBe(false);
    expect(isSessionCredential('eft_ses_a b')).toBe(false);
    expect(isSessionCredential(undefined)).toBe(false);
  });

  it('is HttpOnly, SameSite=Strict, Secure under https, and ends with the session', () => {
    const expires = new Date('2026-12-06T18:00:00Z');
    expect(sessionCookieOptions(true, expires)).toEqual({ httpOnly: true, sameSite: 'strict', secure: true, path: '/', expires });
    expect(sessionCookieOptions(false, expires).secure).toBe(false);
  });
});
