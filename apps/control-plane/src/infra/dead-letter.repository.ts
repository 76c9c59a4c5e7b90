import { Inject, Injectable } from '@nestjs/common';
import type { Pool } from 'pg';
import { toStorableText } from '@edge-fleet/shared';
import { PG_POOL } from './tokens.js';

/** Why a message became a dead letter, as a class; the reason says the rest in words. */
export type DeadLetterCode = 'invalid' | 'timestamp' | 'poison' | 'quota' | 'reported' | 'status' | 'interleaved';

export interface DeadLetter {
  topic: string;
  /** The authenticated device the message came from (null when not known). */
  deviceId: string | null;
  code: DeadLetterCode;
  reason: string;
  /** The message as received; raw bytes are decoded as UTF-8. */
  payload: Buffer | string;
}

const LIMITS = { topic: 512, deviceId: 64, reason: 2_000, payload: 16_384 } as const;

/**
 * Text as it can always be stored: cut to its bound first (a cut may split a surrogate pair), then
 * NUL written as the visible escape `\u0000` (so the dead letter still shows where it was) and any
 * unpaired surrogate replaced. Invalid UTF-8 in raw bytes is already U+FFFD after decoding.
 */
export function storable(value: Buffer | string, max: number): string {
  const text = typeof value === 'string' ? value : value.subarray(0, max * 4).toString('utf8');
  // eslint-disable-next-line no-control-regex -- NUL is what is escaped
  return toStorableText(text.slice(0, max).replace(/\u0000/g, '\\u0000'));
}

const INSERT_SQL = `INSERT INTO "RejectedMessage" ("topic", "deviceId", "code", "reason", "payload")
SELECT * FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::text[])`;

/**
 * The dead-letter table (RejectedMessage): every device message that was refused, with why. Its
 * inserts cannot fail on content, so a message is never lost between "refused" and "kept".
 */
@Injectable()
export class DeadLetterRepository {
  constructor(@Inject(PG_POOL) private readonly pool: Pool) {}

  async add(letter: DeadLetter): Promise<void> {
    await this.addMany([letter]);
  }

  /** One statement for any number of letters (a flood is written in one round trip). */
  async addMany(letters: DeadLetter[]): Promise<void> {
    if (letters.length === 0) return;
    const cols: (string | null)[][] = [[], [], [], [], []];
    for (const l of letters) {
      cols[0]?.push(storable(l.topic, LIMITS.topic));
      cols[1]?.push(l.deviceId === null ? null : storable(l.deviceId, LIMITS.deviceId));
      cols[2]?.push(l.code);
      cols[3]?.push(storable(l.reason, LIMITS.reason));
      cols[4]?.push(storable(l.payload, LIMITS.payload));
    }
    await this.pool.query(INSERT_SQL, cols);
  }

  /** How many of a device's messages were dead-lettered with this code. */
  async countFor(deviceId: string, code: DeadLetterCode): Promise<number> {
    const r = await this.pool.query<{ n: number }>(
      'SELECT count(*)::int AS n FROM "RejectedMessage" WHERE "deviceId" = $1 AND "code" = $2',
      [deviceId, code],
    );
    return r.rows[0]?.n ?? 0;
  }
}
