import { Inject, Injectable } from '@nestjs/common';
import { MEMORY_HEADROOM_BASIS } from '@edge-fleet/shared/api';
import type { Config } from '../config.js';
import { JobQueues } from '../infra/jobs.js';
import type { Logger } from '../infra/logger.js';
import { CONFIG, LOGGER } from '../infra/tokens.js';
import { AlertEvents } from './alert-events.js';
import {
  AlertEvaluationRepository,
  type AlertWrite,
  type CommittedTransition,
  type ObservationRow,
} from './alert-evaluation.repository.js';
import { nextState } from './alert-state.js';
import { alertWebhooksQueue, type Deliver } from './alert-webhook.queue.js';
import { AlertRepository, type NotifyRow } from './alert.repository.js';
import { WebhookRepository } from './webhook.repository.js';

export interface PassResult {
  /** False when another replica's pass held the lock. */
  ran: boolean;
  observed: number;
  transitions: CommittedTransition[];
  notificationsQueued: number;
}

/** Alertmanager's "no end yet". */
const ZERO_TIME = '0001-01-01T00:00:00Z';

function labelsOf(o: ObservationRow): Record<string, string> {
  return {
    alertname: o.ruleName,
    metric: o.metric,
    severity: o.severity,
    rule_id: o.ruleId,
    ...(o.scenario ? { scenario: o.scenario } : {}),
    ...(o.subjectKind === 'rollout' ? { rollout: o.subject } : { device: o.subject }),
  };
}

/**
 * One evaluation pass at `now` (a parameter: the pass is a function of the stored rows and the
 * time, so tests drive it): measure every rule (one set-based statement), step each pair's state
 * machine, store the new states and transitions with their figures, tell the subscribers, then queue
 * the webhook notifications nobody has sent yet (unsilenced).
 */
@Injectable()
export class AlertEvaluator {
  private readonly log: Logger;

  constructor(
    @Inject(AlertEvaluationRepository) private readonly evaluation: AlertEvaluationRepository,
    @Inject(AlertRepository) private readonly alerts: AlertRepository,
    @Inject(WebhookRepository) private readonly webhooks: WebhookRepository,
    @Inject(AlertEvents) private readonly events: AlertEvents,
    @Inject(JobQueues) private readonly jobs: JobQueues,
    @Inject(CONFIG) private readonly config: Config,
    @Inject(LOGGER) logger: Logger,
  ) {
    this.log = logger.child('alerts');
  }

  async evaluate(now: Date): Promise<PassResult> {
    const pass = await this.evaluation.exclusive(async (tx) => {
      const observed = await this.evaluation.observe(tx, now);
      const open = await this.evaluation.openAlerts(tx);
      const writes: AlertWrite[] = [];
      const seen = new Set<string>();
      for (const o of observed) {
        seen.add(o.fingerprint);
        const prev = o.alertState ? { state: o.alertState, activeAt: o.activeAt } : null;
        const step = nextState(prev, o, o.forSeconds, now);
        if (!prev && step.state === 'inactive') continue;
        writes.push({
          fingerprint: o.fingerprint,
          ruleId: o.ruleId,
          subject: o.subject,
          scenario: o.scenario,
          state: step.state,
          value: o.value,
          threshold: o.threshold,
          activeAt: step.activeAt,
          labels: labelsOf(o),
          transition: step.transition && {
            ...step.transition,
            figures: {
              metric: o.metric,
              value: o.value,
              threshold: o.threshold,
              breach: o.breach,
              clear: o.clear,
              windows: o.windows,
              ...(o.metric === 'memory_headroom_mb' ? { basis: MEMORY_HEADROOM_BASIS } : {}),
            },
          },
        });
      }
      // open alerts of pairs that measured nothing this pass (no windows in the lookback, or rule or device gone)
      for (const a of open) {
        if (seen.has(a.fingerprint)) continue;
        const ended = a.retired ? { value: null, threshold: null, breach: false, clear: true } : null;
        const step = nextState({ state: a.state, activeAt: a.activeAt }, ended, a.forSeconds, now);
        if (!step.transition) continue;
        writes.push({
          fingerprint: a.fingerprint,
          ruleId: a.ruleId,
          subject: a.subject,
          scenario: a.scenario,
          state: step.state,
          value: null,
          threshold: null,
          activeAt: step.activeAt,
          labels: {},
          transition: { ...step.transition, figures: a.retired ? { retired: 'rule disabled or device revoked' } : { noData: true } },
        });
      }
      return { observed: observed.length, transitions: await this.evaluation.write(tx, now, writes) };
    });
    if (!pass) return { ran: false, observed: 0, transitions: [], notificationsQueued: 0 };
    for (const e of await this.events.emit(pass.transitions))
      this.log.warn('an alert transition listener failed', { error: e instanceof Error ? e.message : String(e) });
    const notificationsQueued = await this.notify(now);
    return { ran: true, ...pass, notificationsQueued };
  }

  /**
   * Queues a webhook job per (alert state not yet sent, receiver). Job ids are deterministic, so a
   * pass that dies between queueing and marking queues nothing twice. A silenced firing alert waits
   * (it is sent when the silence ends, if still firing); a resolution whose firing was never sent is
   * marked without sending.
   */
  async notify(now: Date): Promise<number> {
    const due = await this.alerts.toNotify(now);
    if (due.length === 0) return 0;
    const receivers = await this.webhooks.enabledIds();
    const queue = alertWebhooksQueue(this.config);
    const done: { id: string; state: string }[] = [];
    const jobs: { id: string; data: Deliver }[] = [];
    for (const a of due) {
      if (a.state === 'firing' && a.silencedBy) continue;
      done.push({ id: a.id, state: a.state });
      if (a.state === 'resolved' && a.notifiedState !== 'firing') continue;
      for (const r of receivers) {
        const notification = `${a.id}_${a.state}_${a.activeAt.getTime()}_${r.id}`;
        jobs.push({
          id: notification,
          data: { receiverId: r.id, alertId: a.id, status: a.state, notification, payload: this.payload(a, r.name) },
        });
      }
    }
    await this.jobs.add(queue, 'deliver', jobs);
    await this.alerts.markNotified(done);
    return jobs.length;
  }

  /** Alertmanager's webhook payload (version 4), one alert per notification, grouped by rule and scenario. */
  private payload(a: NotifyRow, receiver: string): Record<string, unknown> {
    const groupLabels = { alertname: a.labels.alertname ?? a.ruleName, ...(a.labels.scenario ? { scenario: a.labels.scenario } : {}) };
    const figures = `value ${a.value ?? 'n/a'}, threshold ${a.threshold ?? 'n/a'}`;
    const annotations = {
      summary: `${a.ruleName}: ${a.metric} ${figures}`,
      value: String(a.value ?? ''),
      threshold: String(a.threshold ?? ''),
    };
    return {
      version: '4',
      groupKey: `{}:{${Object.entries(groupLabels)
        .map(([k, v]) => `${k}=${JSON.stringify(v)}`)
        .join(', ')}}`,
      truncatedAlerts: 0,
      status: a.state,
      receiver,
      groupLabels,
      commonLabels: a.labels,
      commonAnnotations: annotations,
      externalURL: this.config.publicUrl,
      alerts: [
        {
          status: a.state,
          labels: a.labels,
          annotations,
          startsAt: a.activeAt.toISOString(),
          endsAt: a.state === 'resolved' && a.resolvedAt ? a.resolvedAt.toISOString() : ZERO_TIME,
          generatorURL: `${this.config.publicUrl}/api/v1/alerts/${a.id}`,
          fingerprint: a.fingerprint,
        },
      ],
    };
  }
}
