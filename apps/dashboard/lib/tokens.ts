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

/** The create form as the browser holds it: text fields, checked scenarios, a `datetime-local` value (the browser's local time). */
export interface TokenDraft {
  name: string;
  role: string;
  scenarios: readonly string[];
  expiresLocal: string;
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
  const parsed = CreateApiTokenSchema.safeParse({ name: d.name, role: d.role, scenarios: [...d.scenarios], expiresAt });
  if (!parsed.success) return { errors: parsed.error.issues.map((i) => `${i.path.join('.') || 'form'}: ${i.message}`) };
  return { input: parsed.data };
}

/** "whole fleet" or the scenarios, for the list. */
export function scopeLabel(t: Pick<ApiToken, 'scenarios'>): string {
  return t.scenarios.length === 0 ? 'whole fleet' : t.scenarios.map((s) => s.replace(/_/g, ' ')).join(', ');
}

/** Only an active token can be rotated or revoked. */
export function canChange(t: Pick<ApiToken, 'status'>): boolean {
  return t.status === 'active';
}
