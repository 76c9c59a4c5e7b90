import { join } from 'node:path';
import { DesiredModelSchema, MeasuredLatencySchema, RuntimeSettingsSchema, ScenarioSchema, UpdateOutcomeSchema } from '@edge-fleet/shared';
import { z } from 'zod';
import { readJsonFile, writeJsonAtomic } from './atomic-file.js';

export const ActiveRecordSchema = z.strictObject({
  model: DesiredModelSchema,
  runtime: RuntimeSettingsSchema,
  activatedAt: z.iso.datetime({ offset: true }),
});
export type ActiveRecord = z.infer<typeof ActiveRecordSchema>;

/** How many variants' smoke-run measurements the agent keeps and reports. */
export const MEASUREMENTS_KEPT = 8;

/** Survives restarts: the active model (reloaded without download) and the anti-rollback watermark. */
export const PersistedStateSchema = z.strictObject({
  schema: z.literal(1),
  /** Highest assignmentVersion ever applied; lower ones are refused. */
  watermark: z.int().min(0).nullable(),
  active: ActiveRecordSchema.nullable(),
  lastUpdate: UpdateOutcomeSchema.nullable(),
  /** The model active before `active`: its file stays on disk so the watchdog can return to it without a download. */
  previous: ActiveRecordSchema.nullable().default(null),
  /** `active` is on probation: the watchdog judges its first telemetry windows (survives a restart). */
  probation: z
    .strictObject({
      assignmentVersion: z.int().min(0),
      sha256: z.string(),
      scenario: ScenarioSchema,
      /**
       * Runs of the agent on this probation that have not ended in a clean stop: the running one and
       * every one that crashed (see PROBATION_CRASH_LIMIT). A clean stop sets it back to 0.
       */
      uncleanRuns: z.int().min(0).default(1),
    })
    .nullable()
    .default(null),
  /** A (version, sha) the watchdog rolled back: not applied again until the target changes. */
  rejected: z
    .strictObject({ assignmentVersion: z.int().min(0), sha256: z.string().nullable() })
    .nullable()
    .default(null),
  /** The latest variants measured in smoke runs, newest first: reported so assignment predicts from them. */
  measured: z.array(MeasuredLatencySchema).max(MEASUREMENTS_KEPT).default([]),
});
export type PersistedState = z.infer<typeof PersistedStateSchema>;

export const EMPTY_STATE: PersistedState = {
  schema: 1,
  watermark: null,
  active: null,
  lastUpdate: null,
  previous: null,
  probation: null,
  rejected: null,
  measured: [],
};

export class AgentStateStore {
  constructor(private readonly dataDir: string) {}

  get path(): string {
    return join(this.dataDir, 'state.json');
  }

  async load(): Promise<PersistedState> {
    return (await readJsonFile(this.path, PersistedStateSchema)) ?? EMPTY_STATE;
  }

  async save(state: PersistedState): Promise<void> {
    await writeJsonAtomic(this.path, PersistedStateSchema.parse(state));
  }
}
