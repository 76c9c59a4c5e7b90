import { randomUUID } from 'node:crypto';
import { connect } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { topics } from '@edge-fleet/shared';
import { connectDevice, enrollDevice } from '../test-support/device-client.js';
import { startHarness, type Harness } from '../test-support/harness.js';
import { Mosquitto } from '@edge-fleet/test-utils';
import { Logger } from '../infra/logger.js';
import { DynsecClient } from './dynsec-client.js';

const MiB = 1024 * 1024;

let h: Harness;
beforeAll(async () => {
  h = await startHarness();
});
afterAll(async () => {
  await h.close();
});

/**
 * A raw socket that sends a CONNECT fixed header declaring the largest length MQTT allows
 * (268,435,455 bytes), then streams up to `bodyBytes` of it from one reused 64 KiB buffer.
 * Resolves with what it managed to send and whether the broker closed the connection first.
 */
function oversizedConnect(port: number, bodyBytes: number): Promise<{ sent: number; closedByBroker: boolean }> {
  const chunk = Buffer.alloc(64 * 1024);
  return new Promise((resolve) => {
    const socket = connect(port, '127.0.0.1');
    let sent = 0;
    let done = false;
    socket.on('error', () => undefined);
    socket.on('close', () => resolve({ sent, closedByBroker: !done }));
    const pump = (): void => {
      while (sent < bodyBytes && !socket.destroyed) {
        sent += chunk.length;
        if (!socket.write(chunk)) return void socket.once('drain', pump);
      }
      // everything sent and still open: give the broker a moment, then hang up ourselves
      setTimeout(() => {
        done = true;
        socket.destroy();
      }, 1_000);
    };
    socket.on('connect', () => {
      socket.write(Buffer.from([0x10, 0xff, 0xff, 0xff, 0x7f]));
      pump();
    });
  });
}

describe('embedded broker packet limits: issue 10 item 3 (row 16: protocol fuzz, bad lengths)', () => {
  it('issue 10 item 3 / row 16: CONNECTs declaring 268 MB are closed unbuffered; memory stays near its baseline; a canary keeps working', async () => {
    const canary = await enrollDevice(h, 'financial_trading');
    const client = await connectDevice(h, canary);
    const baseline = process.memoryUsage().rss;
    let peak = baseline;
    const sampler = setInterval(() => (peak = Math.max(peak, process.memoryUsage().rss)), 10);
    const port = h.config.MQTT_EMBEDDED_PORT;
    const floods = await Promise.all([1, 2, 3, 4].map(() => oversizedConnect(port, 64 * MiB)));
    clearInterval(sampler);
    await new Promise((r) => setTimeout(r, 500));
    const after = process.memoryUsage().rss;
    console.log(
      `4 CONNECTs declaring 268 MB: sent ${floods.map((f) => (f.sent / MiB).toFixed(1)).join('/')} MiB; ` +
        `RSS baseline ${(baseline / MiB).toFixed(0)} MiB, peak ${(peak / MiB).toFixed(0)}, after ${(after / MiB).toFixed(0)}`,
    );
    for (const f of floods) {
      expect(f.closedByBroker).toBe(true);
      expect(f.sent).toBeLessThan(16 * MiB);
    }
    expect((peak - baseline) / MiB).toBeLessThan(50);
    expect((after - baseline) / MiB).toBeLessThan(50);
    // the canary's session survived and the broker still admits and acknowledges
    await expect(
      client.publishAsync(topics.status(canary.deviceId), JSON.stringify({ state: 'online', bootId: randomUUID() }), { qos: 1 }),
    ).resolves.toBeDefined();
    const again = await connectDevice(h, canary);
    await again.subscribeAsync(topics.desired(canary.deviceId), { qos: 1 });
    await again.endAsync();
    await client.endAsync();
  });

  it('issue 10 item 3: an authenticated device publishing more than MQTT_MAX_PACKET_KB (256) is disconnected; 200 KiB still passes', async () => {
    const e = await enrollDevice(h, 'financial_trading');
    const c = await connectDevice(h, e);
    await expect(c.publishAsync(topics.reported(e.deviceId), Buffer.alloc(200 * 1024, 0x20), { qos: 1 })).resolves.toBeDefined();
    const closed = new Promise<void>((resolve) => c.once('close', () => resolve()));
    c.publish(topics.reported(e.deviceId), Buffer.alloc(10 * MiB, 0x20), { qos: 1 });
    await closed;
    expect(c.connected).toBe(false);
    c.end(true);
    // only that connection: the device may connect again
    const back = await connectDevice(h, e);
    await back.endAsync();
  });
});

describe('Mosquitto with the max_packet_size README recommends: row 16 on the reference broker', () => {
  it('issue 10 item 3 / row 16: Mosquitto closes CONNECTs declaring 268 MB at once and keeps serving a canary', async () => {
    const m = await Mosquitto.create();
    await m.start();
    try {
      const floods = await Promise.all([1, 2, 3].map(() => oversizedConnect(m.port, 64 * MiB)));
      for (const f of floods) {
        expect(f.closedByBroker).toBe(true);
        expect(f.sent).toBeLessThan(16 * MiB);
      }
      // the canary: the dynamic-security admin still connects and is answered by the plugin
      const canary = new DynsecClient({
        url: m.url,
        username: m.admin?.username ?? '',
        password: m.admin?.password ?? '',
        log: new Logger('test', 'error'),
      });
      await canary.start();
      const [answer] = await canary.run([{ command: 'getDefaultACLAccess' }]);
      expect(answer?.error).toBeUndefined();
      await canary.stop();
    } finally {
      await m.close();
    }
  });
});
