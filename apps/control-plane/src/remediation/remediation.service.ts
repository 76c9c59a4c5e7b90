import { randomUUID } from 'node:crypto';
import { Inject, Injectable } from '@nestjs/common';
import type { DesiredState, Scenario } from '@edge-fleet/shared';
import {
  RemediationSettingsSchema,
  type DeviceRemediation,
  type RemediationActionList,
  type RemediationActionView,
  type RemediationListQuery,
  type RemediationSettingsView,
} from '@edge-fleet/shared/api';
import type { DeviceScope } from '../infra/scope-sql.js';
import type { Config } from '../config.js';
import { DesiredStateRepository } from '../desired-state/desired-state.repository.js';
import { DesiredStateService } from '../desired-state/desired-state.service.js';
import { AppError } from '../errors.js';
import type { AuditInput } from '../infra/audit.repository.js';
import type { JsonValue } from '../infra/json.js';
import type { Logger } from '../infra/logger.js';
import { CONFIG, LOGGER } from '../infra/tokens.js';
import { UnitOfWork, type BulkTx } from '../infra/unit-of-work.js';
import { parseInput } from '../infra/validate.js';
import { decide, NO_OVERRIDE, type AlertInfo, type Decision, type DeviceSituation, type OverrideState } from './remediation-planner.js';
import { DEFAULT_REMEDIATION, RemediationRepository, type NewAction } from './remediation.repository.js';

export interface RemediationPass {
  /** False when another replica's pass held the lock. */
  ran: boolean;
  decisions: { deviceId: string; type: Decision['type']; kind?: string }[];
  /** Remedies the hourly limit held back (tried again on the next pass). */
  deferred: number;
}

const SYSTEM = 'system:remediation';

/**
 * What a transaction's decisions write at its end, set-based: the audit events (one chain append)
 * and the desired states to issue (one issue for every device; per device it cost ~50 ms).
 */
interface Batch {
  audits: AuditInput[];
  issues: { s: DeviceSituation; baseVariantId: string; reason: string }[];
}
const newBatch = (): Batch => ({ audits: [], issues: [] });
const HOUR_MS = 3_600_000;

function figuresOf(a: AlertInfo | null): Record<string, JsonValue> {
  if (!a) return {};
  return { rule: a.rule, metric: a.metric, value: a.value, threshold: a.threshold, alertState: a.state, alertId: a.alertId };
}

/** Per pass: which scenarios may change how many more devices this hour. */
class HourlyBudget {
  private readonly left = new Map<string, number>();
  constructor(
    private readonly repo: RemediationRepository,
    private readonly tx: BulkTx,
    private readonly now: Date,
  ) {}

  /** Takes one device of the scenario's budget; false when the limit is reached. */
  async take(s: DeviceSituation): Promise<boolean> {
    let left = this.left.get(s.scenario);
    if (left === undefined) {
      const { changed, devices } = await this.repo.changedSince(this.tx, s.scenario, new Date(this.now.getTime() - HOUR_MS));
      const pct = s.settings.maxPercentPerHour;
      const cap = Math.min(s.settings.maxDevicesPerHour, pct === null ? Infinity : Math.max(1, Math.floor((devices * pct) / 100)));
      left = cap - changed;
    }
    this.left.set(s.scenario, left - 1);
    return left > 0;
  }
}

/**
 * Automated remediation (M14): what REST, tRPC and the worker's pass call. A pass reads the stored
 * alerts, actions, overrides and variants, decides per device (remediation-planner.ts), and writes
 * each decision with its audit event in one transaction; the desired states it issued are published
 * after the commit.
 */
@Injectable()
export class RemediationService {
  private readonly log: Logger;

  constructor(
    @Inject(RemediationRepository) private readonly repo: RemediationRepository,
    @Inject(DesiredStateRepository) private readonly desiredRepo: DesiredStateRepository,
    @Inject(DesiredStateService) private readonly desired: DesiredStateService,
    @Inject(UnitOfWork) private readonly uow: UnitOfWork,
    @Inject(CONFIG) private readonly config: Config,
    @Inject(LOGGER) logger: Logger,
  ) {
    this.log = logger.child('remediation');
  }

  settings(): Promise<RemediationSettingsView[]> {
    return this.repo.settings();
  }

  /** `body` is untrusted: validated here so REST and tRPC refuse alike, naming the field. */
  async updateSettings(scenario: Scenario, body: unknown, actor: string): Promise<RemediationSettingsView> {
    const s = parseInput(RemediationSettingsSchema, body, 'remediation settings');
    await this.uow.runBulk((tx) => this.repo.saveSettings(tx, scenario, s, actor));
    const view = (await this.repo.settings()).find((x) => x.scenario === scenario);
    return view ?? { scenario, ...DEFAULT_REMEDIATION, updatedBy: null, updatedAt: null };
  }

  /** The remediation log of the devices in a token's `scope` (none: the whole fleet). */
  async list(q: RemediationListQuery, scope?: DeviceScope): Promise<RemediationActionList> {
    return { items: await this.repo.list(q, scope) };
  }

  /** An action on a device outside `scope` is answered as one that does not exist. */
  async get(id: string, scope?: DeviceScope): Promise<RemediationActionView> {
    const a = await this.repo.get(id, scope);
    if (!a) throw new AppError('not_found', `remediation action ${id} not found`);
    return a;
  }

  /** The device page's view: the override in effect and the latest actions. */
  async device(deviceId: string): Promise<DeviceRemediation> {
    const [override, actions] = await Promise.all([this.repo.overrideView(deviceId), this.repo.list({ deviceId, limit: 20 })]);
    return { override, actions };
  }

  /** One pass at `now` over the stored rows; one replica at a time (the others return at once). */
  async pass(now: Date): Promise<RemediationPass> {
    const out = await this.uow.runBulk(async (tx) => {
      if (!(await this.repo.tryLockPass(tx))) return null;
      const situations = await this.situations(tx, now);
      const budget = new HourlyBudget(this.repo, tx, now);
      const batch = newBatch();
      const decisions: RemediationPass['decisions'] = [];
      let deferred = 0;
      for (const s of situations) {
        const d = decide(s, now, s.settings.mode !== 'off');
        if (!d) continue;
        // a new device changed counts against the hourly limit; the next rung on a device does not
        if (d.type === 'propose' && !d.escalates && s.settings.mode === 'auto' && !(await budget.take(s))) {
          deferred++;
          continue;
        }
        await this.execute(tx, batch, s, d, now);
        decisions.push({ deviceId: s.deviceId, type: d.type, ...('kind' in d ? { kind: d.kind } : {}) });
      }
      return { states: await this.flush(tx, batch), decisions, deferred };
    });
    if (!out) return { ran: false, decisions: [], deferred: 0 };
    if (out.states.length) await this.desired.notifyIssued(out.states);
    if (out.decisions.length) this.log.info('remediation pass', { decisions: out.decisions.length, deferred: out.deferred });
    return { ran: true, decisions: out.decisions, deferred: out.deferred };
  }

  /** An operator approves a suggested action: it is applied now, as the pass would have in auto mode. */
  async approve(id: string, actor: string, comment?: string): Promise<RemediationActionView> {
    await this.desired.assertCanNotify();
    const states = await this.uow.runBulk(async (tx) => {
      await this.repo.lockPass(tx);
      const a = await this.repo.lockAction(tx, id);
      if (!a) throw new AppError('not_found', `remediation action ${id} not found`);
      if (a.status !== 'pending') throw new AppError('conflict', `remediation action ${id} is ${a.status}, not pending`);
      const now = new Date();
      const [s] = await this.situations(tx, now, [a.deviceId]);
      if (!s) throw new AppError('conflict', `device ${a.deviceId} is gone or revoked`);
      if (s.inRollout) throw new AppError('conflict', `device ${a.deviceId} is in an active rollout; remediation waits for it to end`);
      const alert = s.alerts.find((x) => x.alertId === a.alertId) ?? null;
      const live =
        a.kind === 'step_up'
          ? !s.alerts.some((x) => x.state === 'firing' || x.state === 'pending')
          : alert?.state === 'firing' && alert.activeAt?.getTime() === a.episode?.getTime();
      if (!live) throw new AppError('conflict', `remediation action ${id} no longer applies: its alert has changed since it was suggested`);
      const checkAt = a.kind === 'step_up' ? undefined : new Date(now.getTime() + s.settings.checkWindowSeconds * 1_000);
      await this.repo.setStatus(tx, [id], 'applied', now, { decidedBy: actor, appliedAt: now, ...(checkAt ? { checkAt } : {}) });
      if (a.kind === 'step_up' && a.undoes) await this.repo.setStatus(tx, [a.undoes], 'reverted', now);
      const batch = newBatch();
      this.audit(batch, s.deviceId, 'remediation.approved', actor, {
        actionId: id,
        kind: a.kind,
        rule: a.rule,
        reason: a.reason,
        before: a.before,
        after: a.after,
        figuresBefore: a.figuresBefore,
        ...(comment ? { comment } : {}),
      });
      await this.override(tx, batch, s, a.after, id, `remediation ${a.kind} approved by ${actor}: ${a.reason}`);
      return this.flush(tx, batch);
    });
    await this.desired.notifyIssued(states);
    return this.get(id);
  }

  /** An operator rejects a suggested action: nothing changes, and that alert episode is not suggested again. */
  async reject(id: string, actor: string, comment?: string): Promise<RemediationActionView> {
    await this.uow.runBulk(async (tx) => {
      await this.repo.lockPass(tx);
      const a = await this.repo.lockAction(tx, id);
      if (!a) throw new AppError('not_found', `remediation action ${id} not found`);
      if (a.status !== 'pending') throw new AppError('conflict', `remediation action ${id} is ${a.status}, not pending`);
      const now = new Date();
      await this.repo.setStatus(tx, [id], 'rejected', now, { decidedBy: actor });
      const batch = newBatch();
      this.audit(batch, a.deviceId, 'remediation.rejected', actor, {
        actionId: id,
        kind: a.kind,
        rule: a.rule,
        reason: a.reason,
        ...(comment ? { comment } : {}),
      });
      await this.flush(tx, batch);
    });
    return this.get(id);
  }

  /** Each device's situation, read in the pass's transaction (`only`: just these devices, whatever their state). */
  private async situations(tx: BulkTx, now: Date, only?: string[]): Promise<DeviceSituation[]> {
    const settings = await this.repo.settings(tx);
    const settingsOf = new Map<string, RemediationSettingsView>(settings.map((s) => [s.scenario, s]));
    const active = settings.filter((s) => s.mode !== 'off').map((s) => s.scenario);
    // a device with a pending action is always among them: `only` picks it out for a decision on that action
    const devices = (await this.repo.devices(tx, active)).filter((d) => !only || only.includes(d.deviceId));
    if (devices.length === 0) return [];
    const ids = devices.map((d) => d.deviceId);
    const alerts = await this.repo.alerts(tx, ids);
    const actions = await this.repo.actions(tx, ids, now);
    const overrides = await this.desiredRepo.overridesOf(tx, ids);
    const variants = await this.repo.variants(tx, [...new Set(devices.flatMap((d) => (d.modelVersionId ? [d.modelVersionId] : [])))]);
    return devices.map((d): DeviceSituation => {
      const o = overrides.get(d.deviceId);
      const {
        scenario: _s,
        updatedAt: _u,
        updatedBy: _b,
        ...st
      } = settingsOf.get(d.scenario) ?? { scenario: d.scenario, ...DEFAULT_REMEDIATION, updatedAt: null, updatedBy: null };
      return {
        deviceId: d.deviceId,
        scenario: d.scenario,
        hardwareClass: d.hardwareClass,
        inRollout: d.inRollout,
        hardwarePrecisions: d.precisions,
        policy: { precisionOrder: d.precisionOrder ?? [], accuracyFloor: d.accuracyFloor ?? 1 },
        settings: st,
        baseRateHz: this.config.DEVICE_RATE_HZ,
        current: d.modelVersionId && d.variantId ? { modelVersionId: d.modelVersionId, variantId: d.variantId } : null,
        variants: variants.filter((v) => v.modelVersionId === d.modelVersionId),
        override: o
          ? {
              variantId: o.variantId,
              maxRateHz: o.maxRateHz,
              dutyCycle: o.dutyCycle,
              modelVersionId: o.modelVersionId,
              baseVariantId: o.baseVariantId,
            }
          : null,
        alerts: alerts.filter((a) => a.deviceId === d.deviceId),
        actions: actions.filter((a) => a.deviceId === d.deviceId),
      };
    });
  }

  /** Writes one decision (and its audit event); returns the desired state it issued, if any. */
  private async execute(tx: BulkTx, batch: Batch, s: DeviceSituation, d: Decision, now: Date): Promise<void> {
    const current: OverrideState = s.override
      ? { variantId: s.override.variantId, maxRateHz: s.override.maxRateHz, dutyCycle: s.override.dutyCycle }
      : NO_OVERRIDE;
    const action = (
      kind: NewAction['kind'],
      status: NewAction['status'],
      alert: AlertInfo | null,
      reason: string,
      after: OverrideState,
      extra: Partial<NewAction> = {},
    ): NewAction => ({
      id: randomUUID(),
      deviceId: s.deviceId,
      scenario: s.scenario,
      kind,
      status,
      rule: alert?.rule ?? 'hold-off',
      alertId: alert?.alertId ?? null,
      episode: alert?.activeAt ?? null,
      reason,
      before: current,
      after,
      figuresBefore: figuresOf(alert),
      undoes: null,
      createdAt: now,
      appliedAt: status === 'applied' ? now : null,
      checkAt: null,
      decidedBy: null,
      ...extra,
    });
    switch (d.type) {
      case 'propose': {
        const auto = s.settings.mode === 'auto';
        const a = action(d.kind, auto ? 'applied' : 'pending', d.alert, d.reason, d.after, {
          checkAt: auto ? new Date(now.getTime() + s.settings.checkWindowSeconds * 1_000) : null,
        });
        await this.insert(tx, batch, s, a, auto ? 'remediation.applied' : 'remediation.suggested');
        if (d.escalates) {
          await this.repo.setStatus(tx, [d.escalates], 'escalated', now, { figuresAfter: figuresOf(d.alert) });
          this.audit(batch, s.deviceId, 'remediation.escalated', SYSTEM, {
            actionId: d.escalates,
            next: a.id,
            figuresAfter: figuresOf(d.alert),
          });
        }
        if (auto) await this.override(tx, batch, s, d.after, a.id, `remediation ${d.kind}: ${d.reason}`);
        return;
      }
      case 'skip': {
        const a = action(d.kind, 'skipped', d.alert, d.reason, current);
        await this.insert(tx, batch, s, a, 'remediation.skipped');
        return;
      }
      case 'helped':
        await this.repo.setStatus(tx, [d.action.id], 'helped', now, { figuresAfter: figuresOf(d.alert) });
        this.audit(batch, s.deviceId, 'remediation.helped', SYSTEM, {
          actionId: d.action.id,
          kind: d.action.kind,
          figuresAfter: figuresOf(d.alert),
        });
        return;
      case 'fail': {
        await this.repo.setStatus(tx, d.chain.length ? d.chain : [d.action.id], 'failed', now, { figuresAfter: figuresOf(d.alert) });
        const a = action('revert', 'applied', d.alert, d.reason, d.restore, { undoes: d.action.id });
        await this.insert(tx, batch, s, a, 'remediation.failed');
        await this.override(tx, batch, s, d.restore, a.id, `remediation reverted: ${d.reason}`);
        return;
      }
      case 'step_up': {
        const suggest = s.settings.mode === 'suggest';
        const a = action('step_up', suggest ? 'pending' : 'applied', d.alert, d.reason, d.restore, { undoes: d.undoes.id });
        await this.insert(tx, batch, s, a, suggest ? 'remediation.suggested' : 'remediation.step_up');
        if (suggest) return;
        await this.repo.setStatus(tx, [d.undoes.id], 'reverted', now);
        await this.override(tx, batch, s, d.restore, a.id, `remediation step-up: ${d.reason}`);
        return;
      }
      case 'expire':
        await this.repo.setStatus(tx, [d.action.id], 'expired', now);
        this.audit(batch, s.deviceId, 'remediation.expired', SYSTEM, { actionId: d.action.id, reason: d.reason });
        return;
      case 'supersede':
        await this.repo.setStatus(
          tx,
          d.actions.map((a) => a.id),
          'superseded',
          now,
        );
        await this.repo.clearOverride(tx, s.deviceId);
        this.audit(batch, s.deviceId, 'remediation.superseded', SYSTEM, { actions: d.actions.map((a) => a.id), reason: d.reason });
        return;
    }
  }

  private async insert(tx: BulkTx, batch: Batch, s: DeviceSituation, a: NewAction, auditAction: string): Promise<void> {
    const withPrecision = (o: OverrideState) => ({
      ...o,
      precision: s.variants.find((v) => v.id === (o.variantId ?? s.override?.baseVariantId ?? s.current?.variantId))?.precision ?? null,
    });
    const row = { ...a, before: withPrecision(a.before), after: withPrecision(a.after) };
    await this.repo.insertAction(tx, row);
    this.audit(batch, s.deviceId, auditAction, a.decidedBy ?? SYSTEM, {
      actionId: a.id,
      kind: a.kind,
      rule: a.rule,
      reason: a.reason,
      before: row.before,
      after: row.after,
      figuresBefore: a.figuresBefore,
      undoes: a.undoes,
    });
  }

  private audit(batch: Batch, deviceId: string, action: string, actor: string, details: Record<string, unknown>): void {
    batch.audits.push({ actor, action, targetType: 'device', targetId: deviceId, details: details as JsonValue });
  }

  /** Puts `o` on the device; its desired state is issued, on top of the variant it ran before any remedy, when the batch is flushed. */
  private async override(tx: BulkTx, batch: Batch, s: DeviceSituation, o: OverrideState, actionId: string, reason: string): Promise<void> {
    if (!s.current) return;
    const baseVariantId = s.override?.baseVariantId ?? s.current.variantId;
    await this.repo.setOverride(tx, s.deviceId, o, { modelVersionId: s.current.modelVersionId, baseVariantId, actionId });
    batch.issues.push({ s, baseVariantId, reason });
  }

  /** Appends the batch's audit events and issues its desired states (in the caller's transaction); returns them to publish. */
  private async flush(tx: BulkTx, batch: Batch): Promise<DesiredState[]> {
    await this.repo.auditMany(tx, batch.audits);
    if (batch.issues.length === 0) return [];
    const bases = await this.desiredRepo.choicesOf([...new Set(batch.issues.map((i) => i.baseVariantId))]);
    const items = batch.issues.flatMap((i) => {
      const choice = bases.get(i.baseVariantId);
      return choice
        ? [{ device: { id: i.s.deviceId, scenario: i.s.scenario as Scenario, hardwareClass: i.s.hardwareClass }, choice, reason: i.reason }]
        : [];
    });
    return this.desired.issue(tx, items, SYSTEM);
  }
}
