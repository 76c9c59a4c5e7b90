import net from 'node:net';
import { randomUUID } from 'node:crypto';
import { filters, topics } from '@edge-fleet/shared';
import { Mosquitto } from '@edge-fleet/test-utils';
import mqtt from 'mqtt';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { Logger } from '../infra/logger.js';
import { waitFor } from '../test-support/harness.js';
import { MqttBus } from './mqtt-bus.js';

/**
 * The bus acknowledges a device message only once handled (RELIABILITY row 18); a commit settles a
 * whole batch at once, and its PUBACKs must leave in one write to the socket, not one system call
 * each (bench:ingest, README "Performance"). Writes are counted where a socket hands them to the
 * system: `_write` takes one chunk, `_writev` every chunk gathered meanwhile.
 */
const MESSAGES = 50;
const isPuback = (b: Buffer): boolean => b.length === 4 && b[0] === 0x40 && b[1] === 0x02;

let broker: Mosquitto;
const cleanups: (() => Promise<void> | void)[] = [];

beforeAll(async () => {
  broker = await Mosquitto.create();
  await broker.start();
}, 30_000);
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});
afterAll(async () => {
  await broker?.close();
});

/** Counts, while installed, the socket writes (system calls) that carry PUBACKs and the PUBACKs they carry. */
function countPubackWrites(): { writes: number; pubacks: number; restore: () => void } {
  type Chunk = { chunk: Buffer };
  type Proto = {
    _write: (this: net.Socket, chunk: Buffer, enc: string, cb: () => void) => void;
    _writev: (this: net.Socket, chunks: Chunk[], cb: () => void) => void;
  };
  const proto = net.Socket.prototype as unknown as Proto;
  const { _write: write, _writev: writev } = proto;
  const counts = {
    writes: 0,
    pubacks: 0,
    restore: () => {
      proto._write = write;
      proto._writev = writev;
    },
  };
  proto._write = function (this: net.Socket, chunk, enc, cb) {
    if (Buffer.isBuffer(chunk) && isPuback(chunk)) {
      counts.writes += 1;
      counts.pubacks += 1;
    }
    write.call(this, chunk, enc, cb);
  };
  proto._writev = function (this: net.Socket, chunks, cb) {
    const n = chunks.filter((c) => Buffer.isBuffer(c.chunk) && isPuback(c.chunk)).length;
    if (n > 0) {
      counts.writes += 1;
      counts.pubacks += n;
    }
    writev.call(this, chunks, cb);
  };
  return counts;
}

describe('the external-broker bus acknowledges handled messages', () => {
  it('row 18: the PUBACKs of messages settled together (one committed batch) leave in one socket write', async () => {
    const observer = await broker.observer();
    const bus = new MqttBus({
      url: broker.url,
      ...observer,
      clientId: `ef-bus-acks-${randomUUID().slice(0, 8)}`,
      filters: [filters.telemetry],
      log: new Logger('mqtt-bus', 'error'),
    });
    // every message waits for one "commit", as the ingest's windows wait for their batch's
    let commit = (): void => undefined;
    const committed = new Promise<void>((resolve) => {
      commit = resolve;
    });
    let received = 0;
    bus.onMessage(async () => {
      received += 1;
      await committed;
    });
    await bus.start();
    cleanups.push(() => bus.stop());
    const device = await mqtt.connectAsync(broker.url, { ...observer, clientId: `ef-bus-dev-${randomUUID().slice(0, 8)}` });
    cleanups.push(() => device.endAsync());

    const topic = topics.telemetry(randomUUID());
    const published = Array.from({ length: MESSAGES }, (_, i) => device.publishAsync(topic, JSON.stringify({ i }), { qos: 1 }));
    await Promise.all(published);
    await waitFor(() => received === MESSAGES, 15_000, 'every message handed to the handler');

    const counts = countPubackWrites();
    cleanups.push(counts.restore);
    commit();
    await waitFor(() => counts.pubacks === MESSAGES, 15_000, 'every PUBACK written');
    expect(counts.writes, `${MESSAGES} PUBACKs in ${counts.writes} socket writes`).toBe(1);
  }, 60_000);
});
