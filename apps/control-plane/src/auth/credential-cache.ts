import { Inject, Injectable } from '@nestjs/common';
import type { Config } from '../config.js';
import { ChangeNotices } from '../infra/change-notices.js';
import { CONFIG } from '../infra/tokens.js';
import type { Operator, VerifiedOperator } from './api-token.repository.js';

/** The notice topic: some operator credential stopped being valid (revoked, rotated, signed out). */
const TOPIC = 'operator-credentials';

/** More distinct credentials than this in one bound: the oldest are dropped (a bound on memory, not a limit on operators). */
const MAX_ENTRIES = 10_000;

/**
 * The operators this replica has verified in the last `OPERATOR_AUTH_CACHE_MS`, by credential hash,
 * so a burst of requests with one token or session costs one query (a fleet overview request spent
 * ~11 % of its CPU, and a Postgres round trip, on the check: README "Performance").
 *
 * An entry never outlives the credential's own expiry. Every revocation, rotation and sign-out
 * empties every replica's cache (`forgetAll`, a ChangeNotices notice, published before the change
 * is answered). While this replica's subscription to the notices is not live nothing is kept, so a
 * notice missed during a Redis outage cannot leave a revoked credential trusted. Only a credential
 * found valid is kept: an unknown one costs its query each time (and is rate-limited).
 */
@Injectable()
export class CredentialCache {
  private readonly entries = new Map<string, { operator: Operator; until: number }>();
  /** Bumped by every forgetting: a lookup that began before one is not kept (it may have read the old row). */
  private generation = 0;
  private readonly ttlMs: number;

  constructor(
    @Inject(ChangeNotices) private readonly notices: ChangeNotices,
    @Inject(CONFIG) config: Config,
  ) {
    this.ttlMs = config.OPERATOR_AUTH_CACHE_MS;
    notices.on(TOPIC, () => this.clear());
  }

  /** The operator for a credential hash verified within the bound, or undefined (ask Postgres). */
  get(hash: string): Operator | undefined {
    const e = this.entries.get(hash);
    if (!e) return undefined;
    if (e.until > Date.now()) return e.operator;
    this.entries.delete(hash);
    return undefined;
  }

  /** Taken before a lookup and handed to `keep` after it. */
  stamp(): number {
    return this.generation;
  }

  /** Keeps what a lookup begun at `stamp` found, unless a forgetting came in between or notices are not live. */
  keep(hash: string, found: VerifiedOperator, stamp: number): void {
    if (this.ttlMs === 0 || stamp !== this.generation || !this.notices.live) return;
    const until = Math.min(Date.now() + this.ttlMs, found.endsAt?.getTime() ?? Infinity);
    if (this.entries.size >= MAX_ENTRIES) this.entries.delete(this.entries.keys().next().value ?? '');
    this.entries.set(hash, { operator: found.operator, until });
  }

  /** Some credential stopped being valid: every replica forgets every credential it verified. */
  forgetAll(): Promise<void> {
    return this.notices.publish(TOPIC);
  }

  private clear(): void {
    this.generation++;
    this.entries.clear();
  }
}
