import { DeviceStatusSchema, ScenarioSchema, type DeviceStatus, type Scenario } from '@edge-fleet/shared/schemas';

export const PAGE_SIZE = 25;

export interface DeviceFilters {
  scenario: Scenario | null;
  status: DeviceStatus | null;
  search: string;
  page: number;
}

export const SCENARIOS = ScenarioSchema.options;
export const DEVICE_STATUSES = DeviceStatusSchema.options;

type Params = Record<string, string | string[] | undefined>;

function first(v: string | string[] | undefined): string | undefined {
  return Array.isArray(v) ? v[0] : v;
}

/** Filters from the URL query; unknown values are ignored rather than sent to the API. */
export function filtersFromQuery(q: Params): DeviceFilters {
  const scenario = ScenarioSchema.safeParse(first(q.scenario));
  const status = DeviceStatusSchema.safeParse(first(q.status));
  const page = Number.parseInt(first(q.page) ?? '1', 10);
  return {
    scenario: scenario.success ? scenario.data : null,
    status: status.success ? status.data : null,
    search: (first(q.search) ?? '').slice(0, 128),
    page: Number.isInteger(page) && page >= 1 ? page : 1,
  };
}

/** The URL query for filters (only what is set), so a filtered list can be linked and reloaded. */
export function filtersToQuery(f: DeviceFilters): string {
  const q = new URLSearchParams();
  if (f.scenario) q.set('scenario', f.scenario);
  if (f.status) q.set('status', f.status);
  if (f.search.trim()) q.set('search', f.search.trim());
  if (f.page > 1) q.set('page', String(f.page));
  const s = q.toString();
  return s ? `?${s}` : '';
}

/** The `devices.list` input for filters. */
export function listInput(f: DeviceFilters) {
  const search = f.search.trim();
  return {
    page: f.page,
    pageSize: PAGE_SIZE,
    scenario: f.scenario ?? undefined,
    status: f.status ?? undefined,
    search: search ? search : undefined,
  };
}
