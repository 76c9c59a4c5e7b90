import type { AuditListInput } from './api-types';

/** The audit page's filter form: free text, and `datetime-local` values in the browser's time zone. */
export interface AuditFilterDraft {
  action: string;
  actor: string;
  targetType: string;
  targetId: string;
  fromLocal: string;
  toLocal: string;
}

export const EMPTY_AUDIT_FILTERS: AuditFilterDraft = { action: '', actor: '', targetType: '', targetId: '', fromLocal: '', toLocal: '' };

export const AUDIT_PAGE_SIZE = 100;

/**
 * The filters as an `audit.list` input: empty fields are left out, times become ISO instants. An
 * unreadable time or a range that ends before it starts is an error naming the field.
 */
export function auditQuery(d: AuditFilterDraft, before?: number): { input: AuditListInput } | { error: string } {
  const input: AuditListInput = { limit: AUDIT_PAGE_SIZE };
  for (const key of ['action', 'actor', 'targetType', 'targetId'] as const) {
    const v = d[key].trim();
    if (v !== '') input[key] = v;
  }
  for (const [key, local] of [
    ['from', d.fromLocal],
    ['to', d.toLocal],
  ] as const) {
    if (local === '') continue;
    const t = new Date(local);
    if (Number.isNaN(t.getTime())) return { error: `${key}: not a date and time` };
    input[key] = t.toISOString();
  }
  if (input.from !== undefined && input.to !== undefined && input.from >= input.to) return { error: 'to: must be after from' };
  if (before !== undefined) input.before = before;
  return { input };
}

/** The verification as one sentence for people. */
export function verificationText(v: {
  ok: boolean;
  checked: number;
  beforeChain: number;
  firstBroken: { id: string; reason: string } | null;
}): string {
  const older = v.beforeChain > 0 ? `; ${v.beforeChain} older event(s) predate the chain and are not covered` : '';
  if (v.ok) return `Intact: ${v.checked} event(s) recomputed, every hash matches${older}`;
  return `Broken at event ${v.firstBroken?.id ?? '?'}: ${v.firstBroken?.reason ?? 'unknown reason'} (${v.checked} event(s) verified before it)`;
}
