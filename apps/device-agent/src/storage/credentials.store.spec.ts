import { mkdtemp, readFile, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { enrollmentFinished, enrollmentRequestId, pendingEnrollmentPath } from './credentials.store.js';

const dirs: string[] = [];
afterEach(async () => {
  for (const d of dirs.splice(0)) await rm(d, { recursive: true, force: true });
});
const dir = async () => {
  const d = await mkdtemp(join(tmpdir(), 'agent-enroll-'));
  dirs.push(d);
  return d;
};
const TOKEN = 'tok-0123456789abcdef';
const now = new Date('2026-12-07T16:00:00Z');

describe('the enrollment under way on disk', () => {
  it('keeps one requestId per token until the enrollment finished, in a 0600 file without the token', async () => {
    const d = await dir();
    const id = await enrollmentRequestId(d, TOKEN, now);
    expect(await enrollmentRequestId(d, TOKEN, now)).toBe(id);
    expect((await stat(pendingEnrollmentPath(d))).mode & 0o777).toBe(0o600);
    expect(await readFile(pendingEnrollmentPath(d), 'utf8')).not.toContain(TOKEN);
    // another token is another enrollment
    const other = await enrollmentRequestId(d, `${TOKEN}-other`, now);
    expect(other).not.toBe(id);
    await enrollmentFinished(d);
    expect(await enrollmentRequestId(d, `${TOKEN}-other`, now)).not.toBe(other);
  });
});
