import { Inject, Injectable } from '@nestjs/common';
import {
  AlertRuleSettingsSchema,
  type AlertDetail,
  type AlertList,
  type AlertListQuery,
  type AlertRuleView,
  type CreateSilence,
  type CreateWebhook,
  type SilenceView,
  type WebhookDeliveryView,
  type WebhookView,
} from '@edge-fleet/shared/api';
import type { DeviceScope } from '../infra/scope-sql.js';
import { AppError } from '../errors.js';
import { newSecret } from '../infra/secrets.js';
import { parseInput } from '../infra/validate.js';
import { AlertRuleRepository } from './alert-rule.repository.js';
import { AlertRepository } from './alert.repository.js';
import { UrlGuard } from './url-guard.js';
import { WebhookSecrets } from './webhook-secrets.js';
import { WebhookRepository } from './webhook.repository.js';

/** What REST and tRPC both call: rules, alerts, silences and webhook receivers. */
@Injectable()
export class AlertsService {
  constructor(
    @Inject(AlertRuleRepository) private readonly rules: AlertRuleRepository,
    @Inject(AlertRepository) private readonly alerts: AlertRepository,
    @Inject(WebhookRepository) private readonly webhooks: WebhookRepository,
    @Inject(WebhookSecrets) private readonly secrets: WebhookSecrets,
    @Inject(UrlGuard) private readonly guard: UrlGuard,
  ) {}

  listRules(): Promise<AlertRuleView[]> {
    return this.rules.list();
  }

  /** `body` is untrusted: validated here so REST and tRPC refuse alike, naming the field. */
  async createRule(body: unknown, actor: string): Promise<AlertRuleView> {
    const s = parseInput(AlertRuleSettingsSchema, body, 'alert rule');
    const row = await this.rules.create(s, actor);
    if (!row) throw new AppError('conflict', `an alert rule named ${s.name} exists`);
    return row;
  }

  /** A full replacement of the rule's settings (a policy rule's too: its threshold then overrides the policy). */
  async updateRule(id: string, body: unknown, actor: string): Promise<AlertRuleView> {
    const s = parseInput(AlertRuleSettingsSchema, body, 'alert rule');
    const row = await this.rules.update(id, s, actor);
    if (row === 'conflict') throw new AppError('conflict', `an alert rule named ${s.name} exists`);
    if (!row) throw new AppError('not_found', `alert rule ${id} not found`);
    return row;
  }

  async deleteRule(id: string, actor: string): Promise<void> {
    if (!(await this.rules.remove(id, actor))) throw new AppError('not_found', `alert rule ${id} not found`);
  }

  /** The alerts of a token's `scope` (none: every alert). */
  list(q: AlertListQuery, scope?: DeviceScope): Promise<AlertList> {
    return this.alerts.list(q, new Date(), scope);
  }

  /** An alert outside `scope` is answered as one that does not exist: a scoped token cannot probe for it. */
  async get(id: string, scope?: DeviceScope): Promise<AlertDetail> {
    const a = await this.alerts.detail(id, new Date(), scope);
    if (!a) throw new AppError('not_found', `alert ${id} not found`);
    return a;
  }

  listSilences(includeExpired: boolean): Promise<SilenceView[]> {
    return this.alerts.listSilences(new Date(), includeExpired);
  }

  createSilence(s: CreateSilence, actor: string): Promise<SilenceView> {
    return this.alerts.createSilence(s, actor, new Date());
  }

  async expireSilence(id: string, actor: string): Promise<SilenceView> {
    const s = await this.alerts.expireSilence(id, actor, new Date());
    if (!s) throw new AppError('not_found', `silence ${id} not found`);
    return s;
  }

  listWebhooks(): Promise<WebhookView[]> {
    return this.webhooks.list();
  }

  /** Refuses internal addresses (SSRF) before storing; the secret is returned this once and stored sealed. */
  async createWebhook(w: CreateWebhook, actor: string): Promise<WebhookView & { secret: string }> {
    await this.guard.check(w.url);
    const secret = w.secret ?? newSecret();
    const row = await this.webhooks.create({ name: w.name, url: w.url, secretEnc: this.secrets.seal(secret) }, actor);
    return { ...row, secret };
  }

  async deleteWebhook(id: string, actor: string): Promise<void> {
    if (!(await this.webhooks.remove(id, actor))) throw new AppError('not_found', `webhook ${id} not found`);
  }

  /** The receiver's deliveries of the alerts in `scope` (none: all). */
  async deliveries(id: string, scope?: DeviceScope, limit = 200): Promise<WebhookDeliveryView[]> {
    if (!(await this.webhooks.exists(id))) throw new AppError('not_found', `webhook ${id} not found`);
    return this.webhooks.deliveries(id, limit, scope);
  }
}
