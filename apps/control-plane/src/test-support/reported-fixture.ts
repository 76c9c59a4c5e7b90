import { randomUUID } from 'node:crypto';

/** A device's reported state as the agent sends it (a new boot, running nothing), with fields replaced by `over`. */
export function reportedFixture(deviceId: string, over: Record<string, unknown> = {}): Record<string, unknown> {
  return {
    schema: 1,
    deviceId,
    bootId: randomUUID(),
    phase: 'running',
    appliedAssignmentVersion: null,
    active: null,
    lastUpdate: null,
    agentVersion: '0.1.0',
    reportedAt: new Date().toISOString(),
    ...over,
  };
}
