import { TelemetryWindowSchema } from '@edge-fleet/shared';
import { waitFor } from '@edge-fleet/test-utils';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { deviceBroker } from './device-broker.js';
import { RawLoad } from './raw-load.js';

const DEVICES = Array.from({ length: 6 }, (_, i) => ({ deviceId: `00000000-0000-4000-8000-00000000000${i}`, deviceSecret: `secret-${i}` }));

let close: () => Promise<void>;
let port = 0;
const received = new Map<string, number[]>();
const invalid: string[] = [];

beforeAll(async () => {
  const b = await deviceBroker(DEVICES);
  ({ port, close } = b);
  b.broker.on('publish', (packet, client) => {
    if (!client) return;
    const parsed = TelemetryWindowSchema.safeParse(JSON.parse(packet.payload.toString()));
    if (!parsed.success || parsed.data.deviceId !== client.id || packet.topic !== `fleet/v1/devices/${client.id}/telemetry`) {
      invalid.push(packet.topic);
      return;
    }
    received.set(client.id, [...(received.get(client.id) ?? []), parsed.data.seq]);
  });
});

afterAll(() => close());

describe('the raw ingest load generator', () => {
  it('connects each device with its own credentials and publishes valid windows in sequence, each PUBACKed', async () => {
    const wrong = { deviceId: '00000000-0000-4000-8000-0000000000ff', deviceSecret: 'nope' };
    const { load, connected, refused } = await RawLoad.start({
      host: '127.0.0.1',
      port,
      devices: [...DEVICES, wrong],
      ratePerSecond: 300,
      processes: 2,
    });
    expect({ connected, refused }).toEqual({ connected: DEVICES.length, refused: 1 });
    load.go();
    await waitFor(async () => (await load.stats()).acked >= 150, 20_000, '150 windows acknowledged');
    const done = await load.stop();
    expect(done.acked).toBe(done.sent);
    expect(invalid).toEqual([]);
    const total = [...received.values()].reduce((s, v) => s + v.length, 0);
    expect(total).toBe(done.sent);
    expect(received.size).toBe(DEVICES.length);
    for (const seqs of received.values()) expect(seqs).toEqual(seqs.map((_, i) => i));
    expect(done.cpuSeconds).toBeGreaterThan(0);
  });
});
