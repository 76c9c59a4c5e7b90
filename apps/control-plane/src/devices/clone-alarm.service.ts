import { Inject, Injectable } from '@nestjs/common';
import type { Logger } from '../infra/logger.js';
import { LOGGER } from '../infra/tokens.js';
import { DeviceRepository, type CloneEvidence } from './device.repository.js';

/** One audit event per device and kind at most this often; detections in between are counted into the next. */
const COALESCE_MS = 60_000;
/** Devices whose last event is remembered at most (past it the memory starts over: an event more, not one less). */
const MAX_REMEMBERED = 10_000;

/**
 * Raises a device's clone alarm (RELIABILITY row 13): the flag on the device that its page and API
 * show, the `clone_suspected` fleet alert that reads it, and an audit event. A clone produces
 * evidence many times a second (each interleaved window, each refused CONNECT): the first detection
 * is written at once, later ones within a minute are counted into the next event, so a clone cannot
 * flood the audit log. Never throws: a detection that cannot be stored now is logged.
 */
@Injectable()
export class CloneAlarmService {
  private readonly log: Logger;
  private readonly recent = new Map<string, { until: number; pending: number }>();

  constructor(
    @Inject(DeviceRepository) private readonly devices: DeviceRepository,
    @Inject(LOGGER) logger: Logger,
  ) {
    this.log = logger.child('clone-detection');
  }

  /** Resolves once the detection is stored (or coalesced, or given up on: logged). */
  async raise(deviceId: string, kind: CloneEvidence['kind'], reason: string, now = Date.now()): Promise<void> {
    const key = `${kind}/${deviceId}`;
    const last = this.recent.get(key);
    if (last && now < last.until) {
      last.pending += 1;
      return;
    }
    if (this.recent.size >= MAX_REMEMBERED) this.recent.clear();
    this.recent.set(key, { until: now + COALESCE_MS, pending: 0 });
    const detections = 1 + (last?.pending ?? 0);
    this.log.warn('clone suspected: two clients with one device identity', { deviceId, kind, reason, detections });
    try {
      await this.devices.raiseCloneAlarm(deviceId, { kind, reason, detections });
    } catch (e) {
      this.log.error('clone alarm not stored', { deviceId, kind, error: e instanceof Error ? e.message : String(e) });
    }
  }
}
