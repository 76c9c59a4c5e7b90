import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createRootPino, Logger } from '../infra/logger.js';
import { jsonPost, startHarness, uploadMlp, waitFor, type Harness } from '../test-support/harness.js';
import { VirtualDevice } from '../test-support/virtual-device.js';

const lines: Record<string, unknown>[] = [];
let h: Harness;
let device: VirtualDevice;

beforeAll(async () => {
  const sink = { write: (s: string) => void lines.push(JSON.parse(s) as Record<string, unknown>) };
  // the assignment's delayed fallback job (a desired-state job whose metrics the Prometheus test reads) runs a second after it
  h = await startHarness({ PUBLISH_FALLBACK_SECONDS: '1' }, undefined, new Logger('test', 'debug', createRootPino('debug', sink)));
  device = await VirtualDevice.start(h, 'customer_support_agent', 'edge-gpu-kiosk');
}, 60_000);

afterAll(async () => {
  await device.stop();
  await h.close();
});

async function scrape(): Promise<string> {
  const res = await fetch(`${h.cp.url}/metrics`);
  expect(res.headers.get('content-type')).toMatch(/^text\/plain; version=0\.0\.4/);
  return res.text();
}

function value(text: string, series: string): number {
  const line = text.split('\n').find((l) => l.startsWith(`${series} `));
  return line === undefined ? Number.NaN : Number(line.slice(series.length + 1));
}

describe('observability', () => {
  it("echoes a plain X-Request-Id, makes one otherwise, and every log line of that request carries it; the assignment's lines say where its write and signing time went", async () => {
    const { id } = await uploadMlp(h, 'classifier', '1.0.0', 3);
    const given = await h.api('/api/v1/scenarios/customer_support_agent/model', {
      method: 'PUT',
      headers: { 'content-type': 'application/json', 'x-request-id': 'op-assign-42' },
      // `whole` queues a delayed fallback on the desired-state queue, whose job metrics the Prometheus test reads
      body: JSON.stringify({ modelVersionId: id, commit: 'whole' }),
    });
    expect(given.status).toBe(200);
    expect(given.headers.get('x-request-id')).toBe('op-assign-42');
    // a service's own line, written while the request ran, names the request
    const assigned = lines.find((l) => l.msg === 'scenario assigned');
    expect(assigned).toMatchObject({ reqId: 'op-assign-42', level: 'info', component: 'assignments' });
    // where the write's time went, and how long the envelopes took to sign: what an operator (and bench:fanout) reads
    const ms = expect.any(Number) as unknown;
    expect(assigned).toMatchObject({ ms: { write: ms, writeStages: { number: ms, read: ms, build: ms, insert: ms } } });
    await waitFor(() => lines.some((l) => l.msg === 'scenario published'), 10_000, 'the published line');
    expect(lines.find((l) => l.msg === 'scenario published')).toMatchObject({ devices: 1, envelopesSignedMs: ms });
    expect(lines.find((l) => l.msg === 'request completed' && l.reqId === 'op-assign-42')).toMatchObject({ res: { statusCode: 200 } });

    // a caller's id that is too long or not plain is not echoed into logs: a new one is made
    for (const forged of [undefined, 'x'.repeat(200), 'a","level":"fatal']) {
      const res = await h.api('/api/v1/devices', forged === undefined ? {} : { headers: { 'x-request-id': forged } });
      expect(res.headers.get('x-request-id')).toMatch(/^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/);
    }
  });

  it('keeps secrets out of log lines', () => {
    new Logger(
      'probe',
      'debug',
      createRootPino('debug', { write: (s: string) => void lines.push(JSON.parse(s) as Record<string, unknown>) }),
    ).warn('probe line', { token: 'efo_secret', device: { secret: 's3' } });
    expect(lines.find((l) => l.msg === 'probe line')).toMatchObject({ token: '[redacted]', device: { secret: '[redacted]' } });
  });

  it('serves Prometheus metrics: ingest, commit lag, queues, rollouts, MQTT connections, HTTP latency by route', async () => {
    await h.api('/api/v1/devices');
    await h.api(`/api/v1/devices/${device.id}`);
    await fetch(`${h.cp.url}/api/v1/no-such-route-${Date.now()}`);
    const text = await waitFor(
      async () => {
        const t = await scrape();
        const job = 'edge_fleet_job_duration_seconds_count{role="all",queue="desired-state",job="publish-desired",outcome="completed"}';
        return value(t, 'edge_fleet_ingest_commit_lag_seconds_count{role="all"}') > 0 && value(t, job) > 0 ? t : null;
      },
      20_000,
      'a committed telemetry window and a completed desired-state job',
    );
    expect(value(text, 'edge_fleet_ingest_windows_total{outcome="inserted",role="all"}')).toBeGreaterThan(0);
    expect(value(text, 'edge_fleet_ingest_committing{role="all"}')).toBe(1);
    expect(value(text, 'edge_fleet_mqtt_connections{role="all"}')).toBe(1);
    expect(value(text, 'edge_fleet_queue_jobs{queue="desired-state",state="waiting",role="all"}')).toBeGreaterThanOrEqual(0);
    expect(
      value(text, 'edge_fleet_job_duration_seconds_count{role="all",queue="desired-state",job="publish-desired",outcome="completed"}'),
    ).toBeGreaterThan(0);
    expect(text).toMatch(/^edge_fleet_process_cpu_seconds_total\{role="all"\} /m);
    // the route's pattern, not the URL: ids and unknown paths do not grow the label set
    expect(
      value(text, 'edge_fleet_http_request_duration_seconds_count{role="all",method="GET",route="/api/v1/devices/:id",status="200"}'),
    ).toBe(1);
    expect(text).toMatch(/route="\(unmatched\)",status="404"/);
    expect(text).not.toContain('no-such-route');
  });

  it('counts rollouts by status', async () => {
    const v2 = await uploadMlp(h, 'classifier', '2.0.0', 4);
    const res = await jsonPost(h, '/api/v1/rollouts', {
      modelVersionId: v2.id,
      name: 'metrics',
      target: { deviceIds: [device.id] },
      waves: [{ count: 1, soakSeconds: 60 }],
    });
    expect(res.status).toBe(201);
    const { id } = (await res.json()) as { id: string };
    await jsonPost(h, `/api/v1/rollouts/${id}/pause`, {});
    const text = await scrape();
    expect(value(text, 'edge_fleet_rollouts{status="paused",role="all"}')).toBe(1);
  });
});
