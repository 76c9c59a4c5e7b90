'use client';

import { useQuery } from '@tanstack/react-query';
import Link from 'next/link';
import { useEffect, useState } from 'react';
import { DEVICE_STATUSES, PAGE_SIZE, SCENARIOS, filtersToQuery, listInput, type DeviceFilters } from '@/lib/device-filters';
import { runsLabel, runsTitle } from '@/lib/device-runs';
import { formatAgo, formatMs, formatPercent, formatPower, humanize } from '@/lib/format';
import { POLL_INTERVAL_MS } from '@/lib/live';
import { useTRPC, type DeviceListItem } from '@/lib/trpc';
import { QueryStatus, RefreshError } from './query-status';
import { StatusBadge } from './status-badge';

const SEARCH_DEBOUNCE_MS = 300;

export function DeviceList({ initial }: { initial: DeviceFilters }) {
  const [filters, setFilters] = useState(initial);
  const [searchText, setSearchText] = useState(initial.search);

  // Typing narrows the list after a pause, not on every key stroke.
  useEffect(() => {
    const t = setTimeout(
      () => setFilters((f) => (f.search === searchText ? f : { ...f, search: searchText, page: 1 })),
      SEARCH_DEBOUNCE_MS,
    );
    return () => clearTimeout(t);
  }, [searchText]);

  // Keep the address bar in step so a filtered list can be shared or reloaded.
  useEffect(() => {
    window.history.replaceState(null, '', `/devices${filtersToQuery(filters)}`);
  }, [filters]);

  const trpc = useTRPC();
  // each filter set is its own query (the input is part of its key)
  const devices = useQuery(trpc.devices.list.queryOptions(listInput(filters), { refetchInterval: POLL_INTERVAL_MS }));

  return (
    <>
      <h1>Devices</h1>
      <form className="filters" role="search" onSubmit={(e) => e.preventDefault()}>
        <label>
          Scenario
          <select
            data-testid="filter-scenario"
            value={filters.scenario ?? ''}
            onChange={(e) => setFilters((f) => ({ ...f, scenario: SCENARIOS.find((s) => s === e.target.value) ?? null, page: 1 }))}
          >
            <option value="">All scenarios</option>
            {SCENARIOS.map((s) => (
              <option key={s} value={s}>
                {humanize(s)}
              </option>
            ))}
          </select>
        </label>
        <label>
          Status
          <select
            data-testid="filter-status"
            value={filters.status ?? ''}
            onChange={(e) => setFilters((f) => ({ ...f, status: DEVICE_STATUSES.find((s) => s === e.target.value) ?? null, page: 1 }))}
          >
            <option value="">All statuses</option>
            {DEVICE_STATUSES.map((s) => (
              <option key={s} value={s}>
                {s}
              </option>
            ))}
          </select>
        </label>
        <label>
          Search
          <input
            type="search"
            data-testid="filter-search"
            placeholder="device name"
            maxLength={128}
            value={searchText}
            onChange={(e) => setSearchText(e.target.value)}
          />
        </label>
      </form>
      {devices.data !== undefined ? (
        <>
          <RefreshError error={devices.error} />
          <DeviceTable items={devices.data.items} />
          <Pager
            page={devices.data.page ?? filters.page}
            total={devices.data.total}
            onPage={(page) => setFilters((f) => ({ ...f, page }))}
          />
        </>
      ) : (
        <QueryStatus error={devices.error} what="device list" />
      )}
    </>
  );
}

function DeviceTable({ items }: { items: DeviceListItem[] }) {
  const now = Date.now();
  if (items.length === 0) return <p className="empty-state">No devices match these filters.</p>;
  return (
    <table>
      <thead>
        <tr>
          <th>Name</th>
          <th>Scenario</th>
          <th>Status</th>
          <th>Hardware</th>
          <th>Runs</th>
          <th className="num">p50</th>
          <th className="num">p95</th>
          <th className="num">p99</th>
          <th className="num">Errors</th>
          <th className="num">Power</th>
          <th>Last seen</th>
        </tr>
      </thead>
      <tbody>
        {items.map((d) => (
          <tr key={d.id} data-testid="device-row">
            <td>
              <Link href={`/devices/${d.id}`}>{d.name}</Link>
            </td>
            <td>{humanize(d.scenario)}</td>
            <td>
              <StatusBadge status={d.status} />
            </td>
            <td>
              {d.hardwareClass} <span className="muted">({d.accelerator})</span>
            </td>
            <td title={runsTitle(d)} data-testid="device-runs">
              {runsLabel(d) ?? <span className="muted">nothing yet</span>}
            </td>
            <td className="num">{formatMs(d.latest?.p50)}</td>
            <td className="num">{formatMs(d.latest?.p95)}</td>
            <td className="num">{formatMs(d.latest?.p99)}</td>
            <td className="num">{formatPercent(d.latest && d.latest.inferences > 0 ? d.latest.errorRate : null)}</td>
            <td className="num">{formatPower(d.latest?.powerW, d.latest?.powerSource)}</td>
            <td title={d.lastSeenAt ?? undefined}>{formatAgo(d.lastSeenAt, now)}</td>
          </tr>
        ))}
      </tbody>
    </table>
  );
}

function Pager({ page, total, onPage }: { page: number; total: number; onPage: (page: number) => void }) {
  const pages = Math.max(1, Math.ceil(total / PAGE_SIZE));
  const from = total === 0 ? 0 : (page - 1) * PAGE_SIZE + 1;
  const to = Math.min(total, page * PAGE_SIZE);
  return (
    <nav className="pager" aria-label="pages">
      <button type="button" disabled={page <= 1} onClick={() => onPage(page - 1)}>
        ← Previous
      </button>
      <span data-testid="device-count">
        {from}–{to} of {total} · page {page} of {pages}
      </span>
      <button type="button" disabled={page >= pages} onClick={() => onPage(page + 1)}>
        Next →
      </button>
    </nav>
  );
}
