import { z } from 'zod';

// NUL cannot be stored in Postgres text or jsonb, and an unpaired UTF-16 surrogate is not valid
// UTF-8: either makes the whole insert fail ("invalid byte sequence 0x00", "unsupported Unicode
// escape sequence"), so device text is checked for both before it gets near the database.
// With the `u` flag, \p{Cs} matches only surrogates that are not part of a pair.
// eslint-disable-next-line no-control-regex -- NUL is exactly what must be found
const UNSTORABLE = /[\u0000\p{Cs}]/u;
// eslint-disable-next-line no-control-regex -- as above, every occurrence
const UNSTORABLE_ALL = /[\u0000\p{Cs}]/gu;

/** True when Postgres can store the string as text (no NUL, no unpaired surrogate). */
export function isStorableText(s: string): boolean {
  return !UNSTORABLE.test(s);
}

/** The string with NUL and unpaired surrogates replaced by U+FFFD, the way invalid UTF-8 is decoded. */
export function toStorableText(s: string): string {
  return s.replace(UNSTORABLE_ALL, '\uFFFD');
}

/** Device-supplied text that is refused (not repaired) when Postgres could not store it: ids, versions. */
export function storableText(max: number) {
  return z.string().max(max).refine(isStorableText, 'must not contain NUL or unpaired surrogate characters');
}

/** Free device-supplied text (diagnostics): bounded, with unstorable characters replaced. */
export function repairedText(max: number) {
  return z.string().max(max).transform(toStorableText);
}

/** Postgres `integer` columns hold at most this. */
export const INT4_MAX = 2_147_483_647;
