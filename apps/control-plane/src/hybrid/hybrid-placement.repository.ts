import { Inject, Injectable } from '@nestjs/common';
import { type CloudNodeRef, CloudNodeRefSchema, type Scenario } from '@edge-fleet/shared';
import type { Pool } from 'pg';
import { PG_POOL } from '../infra/tokens.js';

/** Policy locations whose devices may forward to cloud nodes. */
const FORWARDING_LOCATIONS = ['hybrid', 'cloud'];
/** Cloud nodes named per scenario at most (the desired state's limit). */
const MAX_NODES = 16;

/** A device that forwards: its scenario and that scenario's latency target. */
export interface HybridDevice {
  deviceId: string;
  scenario: Scenario;
  latencyTargetMs: number;
}

/**
 * What hybrid placement reads: which devices forward (their scenario's policy location is hybrid or
 * cloud, and they are no cloud node themselves), and the cloud nodes of a scenario (profile
 * `location: cloud`, online, with the inference address of their latest report).
 */
@Injectable()
export class HybridPlacementRepository {
  constructor(@Inject(PG_POOL) private readonly pool: Pool) {}

  /** Of these devices, those that forward. */
  async hybridAmong(deviceIds: readonly string[]): Promise<HybridDevice[]> {
    if (deviceIds.length === 0) return [];
    const r = await this.pool.query<HybridDevice>(
      `SELECT d.id::text AS "deviceId", d.scenario, p."latencyTargetMs"
         FROM "Device" d
         JOIN "Policy" p ON p.scenario = d.scenario
         JOIN "HardwareProfile" h ON h.id = d."hardwareProfileId"
        WHERE d.id = ANY($1::uuid[]) AND d.status <> 'revoked' AND p.location = ANY($2::text[])
          AND h.spec->>'location' IS DISTINCT FROM 'cloud'`,
      [deviceIds, FORWARDING_LOCATIONS],
    );
    return r.rows;
  }

  /** A page of the devices that forward, by id (the grant refresh walks them all); `scenario` narrows it to one. */
  async hybridPage(afterId: string | null, limit: number, scenario: string | null = null): Promise<string[]> {
    const r = await this.pool.query<{ id: string }>(
      `SELECT d.id::text AS id
         FROM "Device" d
         JOIN "Policy" p ON p.scenario = d.scenario
         JOIN "HardwareProfile" h ON h.id = d."hardwareProfileId"
        WHERE d.status <> 'revoked' AND p.location = ANY($1::text[]) AND h.spec->>'location' IS DISTINCT FROM 'cloud'
          AND ($2::uuid IS NULL OR d.id > $2::uuid) AND ($4::text IS NULL OR d.scenario = $4::text)
        ORDER BY d.id LIMIT $3`,
      [FORWARDING_LOCATIONS, afterId, limit, scenario],
    );
    return r.rows.map((x) => x.id);
  }

  /** The scenario a cloud node serves; null when the device is no cloud node. */
  async cloudNodeScenario(deviceId: string): Promise<string | null> {
    const r = await this.pool.query<{ scenario: string }>(
      `SELECT d.scenario FROM "Device" d JOIN "HardwareProfile" h ON h.id = d."hardwareProfileId"
        WHERE d.id = $1::uuid AND h.spec->>'location' = 'cloud'`,
      [deviceId],
    );
    return r.rows[0]?.scenario ?? null;
  }

  /** The online cloud nodes of each scenario that report an inference address, most recently seen first. */
  async cloudNodes(scenarios: readonly string[]): Promise<Map<string, CloudNodeRef[]>> {
    const out = new Map<string, CloudNodeRef[]>();
    if (scenarios.length === 0) return out;
    const r = await this.pool.query<{ scenario: string; deviceId: string; url: string | null }>(
      `SELECT d.scenario, d.id::text AS "deviceId", rs.payload->>'inferenceUrl' AS url
         FROM "Device" d
         JOIN "HardwareProfile" h ON h.id = d."hardwareProfileId"
         JOIN "ReportedState" rs ON rs."deviceId" = d.id
        WHERE d.scenario = ANY($1::text[]) AND d.status = 'online' AND h.spec->>'location' = 'cloud'
          AND rs.payload->>'inferenceUrl' IS NOT NULL
        ORDER BY d."lastSeenAt" DESC NULLS LAST, d.id`,
      [scenarios],
    );
    for (const row of r.rows) {
      // stored from a validated report; checked again, so nothing else ever reaches a desired state
      const node = CloudNodeRefSchema.safeParse({ deviceId: row.deviceId, url: row.url });
      if (!node.success) continue;
      const list = out.get(row.scenario) ?? [];
      if (list.length < MAX_NODES) list.push(node.data);
      out.set(row.scenario, list);
    }
    return out;
  }
}
