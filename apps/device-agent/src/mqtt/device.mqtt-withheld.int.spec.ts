import { randomUUID } from 'node:crypto';
import { topics } from '@edge-fleet/shared';
import { WithholdingBroker } from '@edge-fleet/test-utils';
import { afterEach, describe, expect, it } from 'vitest';
import { captureLogs } from '../test-support/log.capture.js';
import { testSession } from '../test-support/mqtt.session.js';
import { idleWindow } from '../test-support/telemetry.windows.js';

/** RELIABILITY row 22: a broker (packages/test-utils) that accepts the TCP connection and then withholds its answers. */
let cleanup: (() => Promise<void>) | null = null;
afterEach(async () => {
  await cleanup?.();
  cleanup = null;
});

async function until(what: string, ok: () => boolean, ms = 15_000): Promise<void> {
  const deadline = Date.now() + ms;
  while (!ok()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

describe('a broker that withholds its answers', () => {
  it('row 22: never answered CONNECTs time out and the next ones back off, doubling up to the cap; it connects once CONNACKs come', async () => {
    const broker = await WithholdingBroker.start({ silentConnects: 5 });
    const { logger, logs } = captureLogs<{ msg: string; attempt?: number; retryInMs?: number }>('info');
    const s = testSession(broker.url, { logger, reconnectBaseMs: 100, reconnectCapMs: 800, connectTimeoutMs: 300 });
    cleanup = async () => {
      await s.stop();
      await broker.close();
    };
    s.start();
    await until('six CONNECTs', () => broker.connects.length >= 6);
    await until('connected', () => s.connected);
    // the wait chosen after each failed attempt: half to all of a ceiling that doubles from 200 ms up to the 800 ms cap
    const waits = logs.filter((l) => l.msg === 'mqtt reconnecting').map((l) => l.retryInMs ?? -1);
    const ceilings = [200, 400, 800, 800, 800];
    expect(waits).toHaveLength(5);
    waits.forEach((w, i) => {
      expect(w, `wait after attempt ${i + 2}`).toBeGreaterThanOrEqual((ceilings[i] ?? 0) / 2);
      expect(w, `wait after attempt ${i + 2}`).toBeLessThanOrEqual(ceilings[i] ?? 0);
    });
    // and the CONNECTs really came that far apart: five CONNACK timeouts (300 ms) and the waits
    // between them (at least 100 ms, the agent's first, then half of each ceiling); 250 ms for a
    // late first timestamp on a loaded machine
    const least = 5 * 300 + 100 + [200, 400, 800, 800].reduce((a, c) => a + c / 2, 0);
    expect((broker.connects[5] ?? 0) - (broker.connects[0] ?? 0)).toBeGreaterThanOrEqual(least - 250);
    expect(broker.connects).toHaveLength(6);
  });

  it('row 22: a withheld PUBACK drops the connection; the publish goes again with its packet id and resolves on that PUBACK, while other publishes go on', async () => {
    const deviceId = randomUUID();
    const telemetryTopic = topics.telemetry(deviceId);
    const broker = await WithholdingBroker.start({ withholdPuback: (t) => t === telemetryTopic });
    const s = testSession(broker.url, { deviceId, reconnectBaseMs: 100, pubackTimeoutMs: 600 });
    cleanup = async () => {
      await s.stop();
      await broker.close();
    };
    s.start();
    await until('connected', () => s.connected);
    let acknowledged = false;
    const sent = s.publish('telemetry', idleWindow(deviceId, randomUUID(), 0, new Date().toISOString())).then(() => {
      acknowledged = true;
    });
    await until('the telemetry publish', () => broker.published.some((p) => p.topic === telemetryTopic));
    // other work is not held up behind it: a report is published and acknowledged on the same connection
    await s.publish('status', { state: 'online', bootId: randomUUID(), at: new Date().toISOString() });
    expect(acknowledged).toBe(false);
    expect(broker.connects).toHaveLength(1);

    await sent;
    const copies = broker.published.filter((p) => p.topic === telemetryTopic);
    expect(copies).toHaveLength(2);
    expect(copies[1]?.packetId).toBe(copies[0]?.packetId);
    // (MQTT.js 5 resends it without the DUP flag MQTT 3.1.1 asks for; QoS 1 receivers may not rely on it anyway)
    // sent again on a second connection, after the PUBACK timeout
    expect(broker.connects).toHaveLength(2);
    expect((copies[1]?.at ?? 0) - (copies[0]?.at ?? 0)).toBeGreaterThanOrEqual(600 - 10);
  });
});
