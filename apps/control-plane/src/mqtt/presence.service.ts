import { Inject, Injectable } from '@nestjs/common';
import { formatIssues, type Parsed } from '@edge-fleet/shared';
import { AssignmentsService } from '../assignments/assignments.service.js';
import type { Config } from '../config.js';
import { CloneAlarmService } from '../devices/clone-alarm.service.js';
import { DeviceRepository } from '../devices/device.repository.js';
import { RateLimitedLog, type Logger } from '../infra/logger.js';
import { CONFIG, LOGGER } from '../infra/tokens.js';
import { DeadLetterRepository } from '../infra/dead-letter.repository.js';
import { ReturningBoots } from './returning-boots.js';

type Presence = 'online' | 'offline';

/** Presence events written in one statement at most. */
const PRESENCE_BATCH = 500;
/** Tries of one presence batch before it is given up (logged); waits double from 200 ms up to 5 s between them. */
const PRESENCE_ATTEMPTS = 8;

/**
 * Whether a device is online. On the embedded broker that is the connection itself (issue 10
 * item 5): its authenticated CONNECT makes it online, the end of the connection (clean or not)
 * offline, whatever the device publishes; a device's `status` message only names its boot id.
 * On an external broker the control plane sees no connections, so the device's `status` message
 * and its Last Will (published by the broker) are what there is.
 */
@Injectable()
export class PresenceService {
  private readonly log: Logger;
  /** Refusals a device can cause at will: rate-limited per device. */
  private readonly refusals: RateLimitedLog;
  /** Per device, the last presence write: the next waits for it, so writes land in event order. */
  private readonly chains = new Map<string, Promise<void>>();
  /** Old boots announcing themselves again: a clone (this replica's share of the status messages). */
  private readonly boots = new ReturningBoots();

  constructor(
    @Inject(DeviceRepository) private readonly devices: DeviceRepository,
    @Inject(CloneAlarmService) private readonly clones: CloneAlarmService,
    @Inject(AssignmentsService) private readonly assign: AssignmentsService,
    @Inject(DeadLetterRepository) private readonly deadLetters: DeadLetterRepository,
    @Inject(CONFIG) private readonly config: Config,
    @Inject(LOGGER) logger: Logger,
  ) {
    this.log = logger.child('presence');
    this.refusals = new RateLimitedLog(this.log);
  }

  /**
   * A connection event of the embedded broker. Events are written in batches (RELIABILITY row 21):
   * a thousand devices reconnecting at once are a few multi-row updates, not a thousand queries
   * queued on the pool (which timed out and lost presence); each device's latest event in a batch
   * wins, batches are written one after another, a failed batch is tried again. Resolves once the
   * event is written (or given up on, logged); never rejects.
   */
  connection(deviceId: string, state: Presence): Promise<void> {
    return new Promise<void>((resolve) => {
      const waiting = this.pendingPresence.get(deviceId)?.waiters ?? [];
      this.pendingPresence.set(deviceId, { state, at: new Date(), waiters: [...waiting, resolve] });
      this.flushPresence();
    });
  }

  private readonly pendingPresence = new Map<string, { state: Presence; at: Date; waiters: (() => void)[] }>();
  private presenceFlushing = false;

  private flushPresence(): void {
    if (this.presenceFlushing || this.pendingPresence.size === 0) return;
    this.presenceFlushing = true;
    void (async () => {
      try {
        while (this.pendingPresence.size > 0) {
          const batch = [...this.pendingPresence].slice(0, PRESENCE_BATCH);
          for (const [id] of batch) this.pendingPresence.delete(id);
          await this.writePresence(batch.map(([id, e]) => ({ id, state: e.state, at: e.at })));
          for (const [, e] of batch) for (const done of e.waiters) done();
        }
      } finally {
        this.presenceFlushing = false;
        this.flushPresence();
      }
    })();
  }

  /** One batch: its presence rows, then the desired states of those that came online (the retained copy may be missing). */
  private async writePresence(batch: { id: string; state: Presence; at: Date }[]): Promise<void> {
    for (let attempt = 1; ; attempt++) {
      try {
        await this.devices.setPresenceMany(batch);
        break;
      } catch (e) {
        const error = e instanceof Error ? e.message : String(e);
        if (attempt >= PRESENCE_ATTEMPTS) {
          this.log.error('presence not stored', { devices: batch.length, attempts: attempt, error });
          return;
        }
        this.log.warn('presence batch not stored; trying again', { devices: batch.length, attempt, error });
        await new Promise((r) => setTimeout(r, Math.min(5_000, 100 * 2 ** attempt)));
      }
    }
    const online = batch.filter((b) => b.state === 'online').map((b) => b.id);
    if (online.length > 0)
      await this.assign
        .republishMany(online)
        .catch((e: unknown) =>
          this.log.warn('desired states not republished', { devices: online.length, error: e instanceof Error ? e.message : String(e) }),
        );
  }

  /** A `status` message a device (or the broker, as its Last Will) published, parsed against the contract. */
  async statusMessage(topic: string, m: Parsed<'status'>, raw: Buffer): Promise<void> {
    const deviceId = m.deviceId;
    if (!m.ok) {
      // an empty payload clears a retained status: nothing to store
      if (m.error.code === 'cleared') return;
      const e = m.error;
      const reason = e.code === 'bad_json' ? 'status: not JSON' : `status: ${e.code === 'schema' ? formatIssues(e.issues) : e.reason}`;
      this.refusals.warn(deviceId, 'status rejected', { deviceId, reason });
      await this.deadLetters.add({ topic, deviceId, code: 'status', reason, payload: raw });
      return;
    }
    const { state, bootId } = m.payload;
    const newer = state === 'online' && bootId !== undefined ? this.boots.online(deviceId, bootId) : null;
    if (newer !== null)
      void this.clones.raise(
        deviceId,
        'returning_boots',
        `boot ${bootId ?? ''} came online again after boot ${newer} had: two agents with one identity taking turns`,
      );
    // on the embedded broker the connection says online/offline (and its 'online' republished the
    // desired state already); the message keeps only its boot id
    const embedded = this.config.embeddedBroker;
    await this.inOrder(deviceId, async () => {
      await this.devices.setPresence(deviceId, embedded ? null : state, bootId ?? null, new Date());
      if (state === 'online' && !embedded) await this.assign.republish(deviceId);
    });
  }

  /**
   * Embedded broker, before it listens: no device is connected to a broker that has not started, so
   * an `online` left in Postgres by a process that died without closing its connections is cleared
   * (a clean stop writes each connection's end itself). Devices are online again as they reconnect.
   */
  async noDeviceConnectedYet(): Promise<void> {
    await this.devices.markStaleOffline(new Date()).then(
      (n) => n > 0 && this.log.info('devices shown offline until they reconnect to the embedded broker', { devices: n }),
      (e: unknown) => this.log.warn('stale presence not cleared', { error: e instanceof Error ? e.message : String(e) }),
    );
  }

  /**
   * External broker: a device's own `online` is believed only while it is heard from (telemetry
   * commits refresh lastSeenAt); one silent for PRESENCE_STALE_SECONDS is shown offline, which
   * covers a clean disconnect without an `offline` message (no Last Will is sent then). The worker's
   * maintenance job scheduler runs it; on the embedded broker the connections say it, so it does nothing.
   */
  async sweepStale(): Promise<void> {
    if (this.config.embeddedBroker) return;
    const staleMs = this.config.PRESENCE_STALE_SECONDS * 1_000;
    const n = await this.devices.markStaleOffline(new Date(Date.now() - staleMs));
    if (n > 0) this.log.info('devices not heard from shown offline', { devices: n, staleSeconds: staleMs / 1_000 });
  }

  private inOrder(deviceId: string, write: () => Promise<void>): Promise<void> {
    const next = (this.chains.get(deviceId) ?? Promise.resolve())
      .then(write)
      .catch((e: unknown) => this.log.warn('presence not stored', { deviceId, error: e instanceof Error ? e.message : String(e) }))
      .finally(() => {
        if (this.chains.get(deviceId) === next) this.chains.delete(deviceId);
      });
    this.chains.set(deviceId, next);
    return next;
  }
}
