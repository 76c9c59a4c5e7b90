import {
  AlertDetailSchema,
  AlertIdParamsSchema,
  AlertListQuerySchema,
  AlertListSchema,
  AlertRuleListSchema,
  AlertRuleSettingsSchema,
  AlertRuleViewSchema,
  CreateSilenceSchema,
  CreateWebhookSchema,
  SilenceListSchema,
  SilenceViewSchema,
  WebhookCreatedSchema,
  WebhookDeliveryListSchema,
  WebhookListSchema,
} from '@edge-fleet/shared/api';
import type { ZodOpenApiPathsObject } from 'zod-openapi';
import { errorResponse, json, operatorErrors, operatorSecurity } from '../infra/openapi.js';

const notFound = { '404': errorResponse('no such item') };
const path = { path: AlertIdParamsSchema };

/** The routes of alerts.controller.ts. */
export const alertsPaths: ZodOpenApiPathsObject = {
  '/api/v1/alerts': {
    get: {
      summary:
        'Alerts (default: pending and firing), with the firing and pending counts; a scoped token: those of its devices and rollouts',
      security: operatorSecurity,
      requestParams: { query: AlertListQuerySchema },
      responses: { '200': { description: 'alerts', content: json(AlertListSchema) }, ...operatorErrors },
    },
  },
  '/api/v1/alerts/{id}': {
    get: {
      summary: "One alert with every transition and the figures that caused it; outside a scoped token's scope: 404",
      security: operatorSecurity,
      requestParams: path,
      responses: { '200': { description: 'the alert', content: json(AlertDetailSchema) }, ...operatorErrors, ...notFound },
    },
  },
  '/api/v1/alert-rules': {
    get: {
      summary: 'Alert rules (policy-derived and operator-added)',
      security: operatorSecurity,
      responses: { '200': { description: 'rules', content: json(AlertRuleListSchema) }, ...operatorErrors },
    },
    post: {
      summary: 'Add an alert rule',
      security: operatorSecurity,
      requestBody: { content: json(AlertRuleSettingsSchema) },
      responses: {
        '201': { description: 'the rule', content: json(AlertRuleViewSchema) },
        ...operatorErrors,
        '409': errorResponse('name taken'),
      },
    },
  },
  '/api/v1/alert-rules/{id}': {
    put: {
      summary: "Replace a rule's settings (threshold, for duration, hysteresis, …)",
      security: operatorSecurity,
      requestParams: path,
      requestBody: { content: json(AlertRuleSettingsSchema) },
      responses: { '200': { description: 'the rule', content: json(AlertRuleViewSchema) }, ...operatorErrors, ...notFound },
    },
    delete: {
      summary: 'Delete a rule and its alerts',
      security: operatorSecurity,
      requestParams: path,
      responses: { '204': { description: 'deleted' }, ...operatorErrors, ...notFound },
    },
  },
  '/api/v1/silences': {
    get: {
      summary: 'Active silences (`expired=true`: all)',
      security: operatorSecurity,
      responses: { '200': { description: 'silences', content: json(SilenceListSchema) }, ...operatorErrors },
    },
    post: {
      summary: 'Silence the alerts whose labels match every matcher, for a duration (audited with its author)',
      security: operatorSecurity,
      requestBody: { content: json(CreateSilenceSchema) },
      responses: { '201': { description: 'the silence', content: json(SilenceViewSchema) }, ...operatorErrors },
    },
  },
  '/api/v1/silences/{id}': {
    delete: {
      summary: 'Expire a silence now',
      security: operatorSecurity,
      requestParams: path,
      responses: { '200': { description: 'the silence, expired', content: json(SilenceViewSchema) }, ...operatorErrors, ...notFound },
    },
  },
  '/api/v1/webhooks': {
    get: {
      summary: 'Webhook receivers (never their secrets)',
      security: operatorSecurity,
      responses: { '200': { description: 'receivers', content: json(WebhookListSchema) }, ...operatorErrors },
    },
    post: {
      summary: 'Add an Alertmanager-compatible receiver (admin); internal addresses refused unless WEBHOOK_ALLOWED_CIDRS allows them',
      security: operatorSecurity,
      requestBody: { content: json(CreateWebhookSchema) },
      responses: {
        '201': { description: 'the receiver, with its secret this once', content: json(WebhookCreatedSchema) },
        ...operatorErrors,
      },
    },
  },
  '/api/v1/webhooks/{id}': {
    delete: {
      summary: 'Remove a receiver (admin)',
      security: operatorSecurity,
      requestParams: path,
      responses: { '204': { description: 'removed' }, ...operatorErrors, ...notFound },
    },
  },
  '/api/v1/webhooks/{id}/deliveries': {
    get: {
      summary: "A receiver's delivery attempts, newest first; a scoped token: those of its scope's alerts",
      security: operatorSecurity,
      requestParams: path,
      responses: { '200': { description: 'attempts', content: json(WebhookDeliveryListSchema) }, ...operatorErrors, ...notFound },
    },
  },
};
