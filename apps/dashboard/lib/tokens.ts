import { CreateApiTokenSchema, OperatorRoleSchema, type OperatorRole } from '@edge-fleet/shared/api';
import type { ApiToken, ApiTokenCreateInput } from './api-types';

export const ROLES = OperatorRoleSchema.options;

/** What each role may do, as the tokens page explains it. */
export const ROLE_HELP: Record<OperatorRole, string> = {
  viewer: 'reads the fleet',
  auditor: 'reads the fleet and the audit log; changes nothing',
  operator: 'reads and changes the fleet',
  admin: 'everything, including tokens, enrollment and the audit log',
};

/**
 * The create form as the browser holds it: text fields, checked scenarios, device labels as typed
 * (`site=berlin, rack=7`), a `datetime-local` value (the browser's local time).
 */
export interface TokenDraft {
  name: string;
  role: string;
  scenarios: readonly string[];
  labels: string;
  expiresLocal: string;
}

/** `key=value` pairs separated by commas (blank: none), or the problem naming the pair that is not one. */
export function parseLabels(text: string): { labels: Record<string, string> } | { error: string } {
  const labels: Record<string, string> = {};
  for (const pair of text.split(',')) {
    if (pair.trim() === '') continue;
    const eq = pair.indexOf('=');
    const key = eq < 0 ? '' : pair.slice(0, eq).trim();
    if (key === '') return { error: `labels: "${pair.trim()}" is not key=value` };
    labels[key] = pair.slice(eq + 1).trim();
  }
  return { labels };
}

/**
 * The form as a `tokens.create` input, or the problems naming each field, checked with the same
 * schema the control plane validates with. `expiresLocal` is read in the browser's time zone.
 */
export function tokenInput(d: TokenDraft, now = Date.now()): { input: ApiTokenCreateInput } | { errors: string[] } {
  let expiresAt: string | undefined;
  if (d.expiresLocal !== '') {
    const t = new Date(d.expiresLocal);
    if (Number.isNaN(t.getTime())) return { errors: ['expires: not a date and time'] };
    if (t.getTime() <= now) return { errors: ['expires: must be in the future'] };
    expiresAt = t.toISOString();
  }
  const labels = parseLabels(d.labels);
  if ('error' in labels) return { errors: [labels.error] };
  const parsed = CreateApiTokenSchema.safeParse({
    name: d.name,
    role: d.role,
    scenarios: [...d.scenarios],
    labels: labels.labels,
    expiresAt,
  });
  if (!parsed.success) return { errors: parsed.error.issues.map((i) => `${i.path.join('.') || 'form'}: ${i.message}`) };
  return { input: parsed.data };
}

/** "whole fleet", or the scenarios and the device labels, for the list. */
export function scopeLabel(t: Pick<ApiToken, 'scenarios' | 'labels'>): string {
  const labels = Object.entries(t.labels).map(([k, v]) => `${k}=${v}`);
  const parts = [t.scenarios.map((s) => s.replace(/_/g, ' ')).join(', '), labels.length > 0 ? `devices labelled ${labels.join(', ')}` : ''];
  const scope = parts.filter((p) => p !== '').join('; ');
  return scope === '' ? 'whole fleet' : scope;
}

/** Only an active token can be rotated or revoked. */
export function canChange(t: Pick<ApiToken, 'status'>): boolean {
  return t.status === 'active';
}
