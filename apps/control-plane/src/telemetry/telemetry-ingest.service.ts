import { Inject, Injectable } from '@nestjs/common';
import type { Parsed, TelemetryWindow } from '@edge-fleet/shared';
import type { Config } from '../config.js';
import { RateLimitedLog, type Logger } from '../infra/logger.js';
import { Metrics } from '../infra/metrics.js';
import { errorText, isDataError, isPartitionMapChanged } from '../infra/pg-errors.js';
import { CONFIG, LOGGER } from '../infra/tokens.js';
import { DeadLetterRepository, type DeadLetterCode } from '../infra/dead-letter.repository.js';
import { CloneAlarmService } from '../devices/clone-alarm.service.js';
import { BootInterleave } from './boot-interleave.js';
import { TelemetryRepository } from './telemetry.repository.js';
import { timestampProblem, type TimeLimits } from './window-checks.js';
import { WindowQuota } from './window-quota.js';

const MAX_BATCH = 1_000;
/** Inserts of one flush tried again because a day partition was attached under them (one per attach). */
const MAX_REPLANS = 3;
/** Retry backoff while Postgres is unavailable: doubles per failed flush up to this. */
const MAX_BACKOFF_MS = 5_000;
const ENROLLMENT_CACHE_MAX = 100_000;

/** `retry`: not taken now (buffer full, or the database is away); the sender must not be acknowledged, so it sends again. */
export type IngestResult = { ok: true } | { ok: false; reason: string; retry?: true };

interface Pending {
  window: TelemetryWindow;
  topic: string;
  receivedAt: number;
  settled: boolean;
  /** Settles the sender's wait: the window is a row or a dead letter. */
  done: (r: IngestResult) => void;
}

/** What /readyz and /metrics report of the ingest. */
export interface IngestHealth {
  committing: boolean;
  buffered: number;
  oldestBufferedSeconds: number;
  consecutiveFailedFlushes: number;
}

/**
 * Validates telemetry windows and writes them in batches. A window is acknowledged (`accept`
 * resolves) only once it is a row or a dead letter. A refused window (malformed, impossible dates,
 * over its device's quota) becomes a dead letter at once. A batch the database refuses for its
 * data is split in halves until the offending windows are alone; they become dead letters with the
 * database's reason and the rest commits, so one device's content cannot stall anyone else. A
 * batch that fails because the database is unavailable is kept whole and retried with backoff.
 */
@Injectable()
export class TelemetryIngestService {
  private buffer: Pending[] = [];
  private timer: NodeJS.Timeout | null = null;
  private flushing: Promise<void> | null = null;
  private failures = 0;
  private retryAt = 0;
  private readonly enrolled = new Map<string, Date>();
  private readonly enrolling = new Map<string, Promise<Date | null>>();
  /** Devices waiting for the next batched enrollment lookup. */
  private unlooked = new Map<string, { resolve: (at: Date | null) => void; reject: (e: unknown) => void }>();
  private readonly limits: TimeLimits;
  private readonly quota: WindowQuota;
  private readonly boots = new BootInterleave();
  private readonly log: Logger;
  /** A refused window is a dead letter whatever happens; its log line is rate-limited per device. */
  private readonly refusals: RateLimitedLog;
  readonly stats = {
    accepted: 0,
    rejected: 0,
    inserted: 0,
    duplicates: 0,
    writeErrors: 0,
    refusedFull: 0,
    poison: 0,
    overQuota: 0,
    /** Windows of a second boot running beside the first (a cloned identity, RELIABILITY row 13). */
    interleaved: 0,
    /** Insert attempts spent on parts of refused batches: the price of isolating poison. */
    splitInserts: 0,
  };

  constructor(
    @Inject(TelemetryRepository) private readonly repo: TelemetryRepository,
    @Inject(DeadLetterRepository) private readonly deadLetters: DeadLetterRepository,
    @Inject(CONFIG) private readonly config: Config,
    @Inject(LOGGER) logger: Logger,
    @Inject(Metrics) private readonly metrics: Metrics,
    @Inject(CloneAlarmService) private readonly clones: CloneAlarmService,
  ) {
    this.log = logger.child('telemetry-ingest');
    this.refusals = new RateLimitedLog(this.log);
    this.limits = {
      beforeEnrollmentMs: config.TELEMETRY_PRE_ENROLL_SECONDS * 1000,
      futureSkewMs: config.TELEMETRY_FUTURE_SKEW_SECONDS * 1000,
      maxWindowMs: config.TELEMETRY_MAX_WINDOW_SECONDS * 1000,
      retentionMs: config.TELEMETRY_RETENTION_DAYS * 86_400_000,
    };
    this.quota = new WindowQuota(config.TELEMETRY_WINDOW_SECONDS, config.TELEMETRY_QUOTA_SLACK);
  }

  start(): void {
    this.timer ??= setInterval(() => void this.flush(), this.config.TELEMETRY_FLUSH_MS);
  }

  async stop(): Promise<void> {
    if (this.timer) clearInterval(this.timer);
    this.timer = null;
    this.retryAt = 0;
    await this.flush();
  }

  /** Handles one MQTT telemetry message, parsed against the contract; its device is the topic's (the authenticated one). */
  async accept(topic: string, m: Parsed<'telemetry'>, payload: Buffer, now = Date.now()): Promise<IngestResult> {
    const topicDeviceId = m.deviceId;
    if (!m.ok) return this.refuse({ topic, deviceId: topicDeviceId, code: 'invalid', reason: m.error.reason, payload });
    const w = m.payload;
    let enrolledAt: Date | null;
    try {
      enrolledAt = await this.enrolledAt(topicDeviceId);
    } catch (e) {
      return { ok: false, reason: `database unavailable: ${errorText(e)}`, retry: true };
    }
    const late = enrolledAt ? timestampProblem(w, enrolledAt, now, this.limits) : 'the device is not enrolled';
    if (late !== null) return this.refuse({ topic, deviceId: topicDeviceId, code: 'timestamp', reason: late, payload });
    const other = this.boots.check(topicDeviceId, w.bootId, Date.parse(w.windowStart), Date.parse(w.windowEnd));
    if (other !== null) return this.interleaved(topic, topicDeviceId, w.bootId, other, payload);
    if (this.buffer.length >= this.config.TELEMETRY_BUFFER_MAX) return this.refuseFull();
    if (!this.quota.admit(w)) {
      this.stats.overQuota += 1;
      const reason = `quota: more than ${this.quota.limit} windows start in the ${this.quota.periodMs / 1000} s period from ${this.quota.periodOf(w)}`;
      return this.refuse({ topic, deviceId: topicDeviceId, code: 'quota', reason, payload });
    }
    this.stats.accepted += 1;
    const committed = new Promise<IngestResult>((done) => this.buffer.push({ window: w, topic, receivedAt: now, settled: false, done }));
    if (this.buffer.length >= MAX_BATCH) void this.flush();
    return committed;
  }

  /** Keeps a refused message as a dead letter; acknowledged only once it is kept. */
  private async refuse(l: {
    topic: string;
    deviceId: string;
    code: DeadLetterCode;
    reason: string;
    payload: Buffer;
  }): Promise<IngestResult> {
    // quota and interleaving refusals are counted apart, so the outcomes in /metrics do not overlap
    if (l.code !== 'quota' && l.code !== 'interleaved') this.stats.rejected += 1;
    this.refusals.warn(l.deviceId, 'telemetry rejected', { deviceId: l.deviceId, code: l.code, reason: l.reason });
    try {
      await this.deadLetters.add(l);
      return { ok: false, reason: l.reason };
    } catch (e) {
      this.log.error('could not keep rejected message; the device will send it again', { error: errorText(e) });
      return { ok: false, reason: l.reason, retry: true };
    }
  }

  /** A window of a boot running beside another of the same device: kept apart as a dead letter, and the clone alarm raised. */
  private async interleaved(topic: string, deviceId: string, bootId: string, other: string, payload: Buffer): Promise<IngestResult> {
    this.stats.interleaved += 1;
    const reason = `windows of boot ${bootId} interleave with those of boot ${other}: two agents with one identity`;
    void this.clones.raise(deviceId, 'interleaved_boots', reason);
    return this.refuse({ topic, deviceId, code: 'interleaved', reason, payload });
  }

  private refuseFull(): IngestResult {
    // bounded memory while Postgres is away or slower than the offered rate. The new window is
    // refused and left unacknowledged, so its device keeps it and sends it again. Dropping the
    // oldest instead (as before) resolved their waits too, and the broker acknowledged windows
    // that were never stored: 166,778 of 394,603 at 16k msg/s offered (bench:ingest).
    this.stats.refusedFull += 1;
    if (this.stats.refusedFull % 1_000 === 1)
      this.log.error('telemetry buffer full: refusing new windows until it drains', {
        refused: this.stats.refusedFull,
        buffered: this.buffer.length,
      });
    return { ok: false, reason: 'ingest buffer full', retry: true };
  }

  private async enrolledAt(deviceId: string): Promise<Date | null> {
    const cached = this.enrolled.get(deviceId);
    if (cached) return cached;
    // one lookup per device however many of its windows arrive before it answers (a broker handing
    // over a thousand unacknowledged windows at once took every connection of the pool, and timed out)
    let lookup = this.enrolling.get(deviceId);
    if (!lookup) {
      lookup = this.lookUp(deviceId).finally(() => this.enrolling.delete(deviceId));
      this.enrolling.set(deviceId, lookup);
    }
    const at = await lookup;
    if (at) {
      if (this.enrolled.size >= ENROLLMENT_CACHE_MAX) this.enrolled.clear();
      this.enrolled.set(deviceId, at);
    }
    return at;
  }

  /**
   * The devices first seen in one turn of the event loop are looked up together, in one query: the
   * broker hands over a socket read of windows at once, and 300 new devices looked up one by one
   * timed out on the pool of a loaded box (README, Performance), their windows left unacknowledged.
   */
  private lookUp(deviceId: string): Promise<Date | null> {
    return new Promise((resolve, reject) => {
      this.unlooked.set(deviceId, { resolve, reject });
      if (this.unlooked.size === 1) setImmediate(() => void this.lookUpAll());
    });
  }

  private async lookUpAll(): Promise<void> {
    const waiting = this.unlooked;
    this.unlooked = new Map();
    try {
      const found = await this.repo.enrolledAtOf([...waiting.keys()]);
      for (const [id, w] of waiting) w.resolve(found.get(id) ?? null);
    } catch (e) {
      for (const w of waiting.values()) w.reject(e);
    }
  }

  health(now = Date.now()): IngestHealth {
    const oldest = this.buffer[0];
    const oldestBufferedSeconds = oldest ? Math.max(0, now - oldest.receivedAt) / 1000 : 0;
    return {
      committing: oldestBufferedSeconds <= this.config.TELEMETRY_STALL_SECONDS,
      buffered: this.buffer.length,
      oldestBufferedSeconds,
      consecutiveFailedFlushes: this.failures,
    };
  }

  /** Writes everything buffered; concurrent callers share one flush. */
  async flush(): Promise<void> {
    if (this.flushing) return this.flushing;
    this.flushing = this.drain().finally(() => {
      this.flushing = null;
    });
    return this.flushing;
  }

  private async drain(): Promise<void> {
    while (this.buffer.length > 0 && Date.now() >= this.retryAt) {
      const batch = this.buffer.slice(0, MAX_BATCH);
      const unavailable = await this.commit(batch);
      // what is still unsettled (the database went away mid-way) stays at the front, in order
      this.buffer.splice(0, batch.length, ...batch.filter((p) => !p.settled));
      if (unavailable) {
        this.failures += 1;
        this.stats.writeErrors += 1;
        const backoff = Math.min(MAX_BACKOFF_MS, this.config.TELEMETRY_FLUSH_MS * 2 ** this.failures);
        this.retryAt = Date.now() + backoff * (0.5 + Math.random() / 2);
        this.log.error('telemetry write failed: database unavailable; will retry', {
          buffered: this.buffer.length,
          retryInMs: Math.round(this.retryAt - Date.now()),
          error: errorText(unavailable),
        });
        return;
      }
      this.failures = 0;
    }
  }

  /**
   * Commits a batch, splitting it while the database refuses its data, until every window is a
   * row or a dead letter. Returns the error if the database became unavailable (the windows not
   * yet settled stay buffered), else null.
   */
  private async commit(batch: Pending[]): Promise<unknown> {
    const parts: Pending[][] = [batch];
    let replans = 0;
    for (let part = parts.pop(); part; part = parts.pop()) {
      if (part !== batch) this.stats.splitInserts += 1;
      try {
        const inserted = await this.repo.insertBatch(part.map((p) => p.window));
        this.stats.inserted += inserted;
        this.stats.duplicates += part.length - inserted;
        this.metrics.committed(part.map((p) => p.receivedAt));
        for (const p of part) settle(p, { ok: true });
      } catch (e) {
        // a day partition attached under the insert: the same rows again go where they belong
        if (isPartitionMapChanged(e) && replans < MAX_REPLANS) {
          replans += 1;
          parts.push(part);
          continue;
        }
        if (!isDataError(e)) return e;
        const [only] = part;
        if (part.length === 1 && only) {
          const unavailable = await this.poison(only, errorText(e));
          if (unavailable) return unavailable;
          continue;
        }
        // poison usually comes from one device: with the batch ordered by device, halving
        // separates devices first and keeps one device's bad windows together
        const ordered = part === batch ? [...part].sort((x, y) => (x.window.deviceId < y.window.deviceId ? -1 : 1)) : part;
        const half = Math.ceil(ordered.length / 2);
        // the second half is pushed first so that the first is tried first
        parts.push(ordered.slice(half), ordered.slice(0, half));
      }
    }
    return null;
  }

  /** One window the database refuses for its content: a dead letter with the database's reason. */
  private async poison(p: Pending, dbReason: string): Promise<unknown> {
    const reason = `database refused the window: ${dbReason}`;
    try {
      await this.deadLetters.add({
        topic: p.topic,
        deviceId: p.window.deviceId,
        code: 'poison',
        reason,
        payload: JSON.stringify(p.window),
      });
    } catch (e) {
      return e;
    }
    this.stats.poison += 1;
    this.log.warn('telemetry window isolated as poison', { deviceId: p.window.deviceId, seq: p.window.seq, reason });
    settle(p, { ok: false, reason });
    return null;
  }
}

function settle(p: Pending, r: IngestResult): void {
  p.settled = true;
  p.done(r);
}
