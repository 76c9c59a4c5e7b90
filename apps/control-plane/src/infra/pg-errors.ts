import { AppError } from '../errors.js';

/**
 * Whether a Postgres error is about the data itself (this row can never be stored as it is) rather
 * than about reaching the database. SQLSTATE class 22 is "data exception" (bad byte sequence, date
 * out of range, numeric overflow), 23 "integrity constraint violation", 54 "program limit exceeded"
 * (e.g. a row too large). Everything else, and anything without a SQLSTATE (a refused or dropped
 * connection, a timeout), is treated as the database being unavailable: retried, never blamed on a row.
 * https://www.postgresql.org/docs/current/errcodes-appendix.html
 */
export function isDataError(e: unknown): boolean {
  const code = typeof e === 'object' && e !== null && 'code' in e ? e.code : undefined;
  return typeof code === 'string' && /^(22|23|54)[0-9A-Z]{3}$/.test(code) && !isPartitionMapChanged(e);
}

/**
 * A row inserted through a partitioned table that Postgres routed to its default partition while a
 * partition for the row was being attached (ATTACH PARTITION lets inserts run beside it): the insert
 * then meets the default partition's new constraint, 23514 "violates partition constraint". Nothing
 * is wrong with the row: the same insert, planned again, goes to the new partition.
 */
export function isPartitionMapChanged(e: unknown): boolean {
  const code = typeof e === 'object' && e !== null && 'code' in e ? e.code : undefined;
  return code === '23514' && /violates partition constraint/.test(errorText(e));
}

/** A statement that gave up waiting for a lock (`lock_timeout`): 55P03 "lock_not_available". */
export function isLockTimeout(e: unknown): boolean {
  const code = typeof e === 'object' && e !== null && 'code' in e ? e.code : undefined;
  return code === '55P03';
}

/** The database's own words for an error, for a dead letter or a log line. */
export function errorText(e: unknown): string {
  return e instanceof Error ? e.message : String(e);
}

/**
 * Whether an error says Postgres cannot be reached (as opposed to a bad query): pg's and Prisma's
 * ways of saying it (P1001: can't reach, P1017: server closed the connection, 57P01/57P03: shutting
 * down or starting up), and the socket errors beneath them.
 */
export function isDatabaseUnreachable(e: unknown): boolean {
  const code = typeof e === 'object' && e !== null && 'code' in e ? String(e.code) : '';
  if (['P1001', 'P1002', 'P1017', 'ECONNREFUSED', 'ECONNRESET', 'ETIMEDOUT', '57P01', '57P03'].includes(code)) return true;
  return /ECONNREFUSED|ECONNRESET|Connection terminated|connect ETIMEDOUT|DatabaseNotReachable|Can't reach database server|timeout exceeded when trying to connect|the database system is (starting up|shutting down)/i.test(
    errorText(e),
  );
}

/**
 * The answer an API request gets when it failed because the database cannot be reached: 503
 * `unavailable`, to be retried shortly (the caller also opens the database breaker); null: the
 * error is the request's own (a 500 stays a 500). One answer for REST (HttpErrorFilter) and tRPC.
 */
export function databaseUnavailable(e: unknown): AppError | null {
  return isDatabaseUnreachable(e) ? new AppError('unavailable', 'the database is not reachable; retry shortly') : null;
}
