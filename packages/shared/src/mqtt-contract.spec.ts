import { describe, expect, it } from 'vitest';
import {
  decodeJson,
  devicePublishAllowed,
  deviceSubscribeAllowed,
  encodeMessage,
  lastWill,
  mqttContract,
  parseMessage,
  parsePayload,
  publishArgs,
  type MessageKind,
  type Payload,
} from './mqtt-contract.js';
import { filters, TOPIC_KINDS, topics } from './mqtt-topics.js';

const deviceId = '3f0e4a52-8a9c-4d1e-9f57-2b1c6f0d9a11';
const other = '9b2d7c1e-1111-4222-8333-444455556666';
const bootId = '7c9e6679-7425-40de-944b-e07fc1f90ae7';
const correlationId = 'c56a4180-65aa-42ec-a945-5fd21dec0538';
const at = '2026-11-29T10:00:05.000Z';
const utf8 = (s: string): Uint8Array => new TextEncoder().encode(s);

/** One valid payload of every kind, as a sender writes it. */
const samples: { [K in MessageKind]: Payload<K> } = {
  telemetry: {
    schema: 1,
    deviceId,
    bootId,
    seq: 3,
    windowStart: '2026-11-29T10:00:00.000Z',
    windowEnd: at,
    modelVersionId: 'mv1',
    variantId: 'v1',
    precision: 'fp32',
    inferences: 50,
    errors: 1,
    latencyMs: { p50: 1.2, p95: 2.5, p99: 3.9, max: 7.1 },
    power: { watts: 3.4, source: 'estimate', detail: 'idle 1.2 W + active' },
    memory: { rssMb: 80.5, heapUsedMb: 12.25 },
    cacheHits: 2,
    fallbacks: 0,
    source: 'traffic',
  },
  reported: {
    schema: 1,
    deviceId,
    bootId,
    phase: 'running',
    appliedAssignmentVersion: 4,
    active: { modelVersionId: 'mv1', variantId: 'v1', precision: 'int8', sha256: 'a'.repeat(64) },
    lastUpdate: { assignmentVersion: 4, outcome: 'ok', at },
    agentVersion: '0.1.0',
    reportedAt: at,
  },
  status: { state: 'online', bootId, at },
  desired: {
    payload: 'eyJhIjoxfQ==',
    signature: 'c2ln',
    signingKey: { publicKey: 'cGs=', expiresAt: '2027-11-29T10:00:00.000Z', rootSignature: 'cnM=' },
  },
  commands: { correlationId, command: 'ping' },
  'commands/ack': { correlationId, status: 'error', code: 'bad_command', message: 'unknown command' },
};

function publishAndParse<K extends MessageKind>(kind: K, payload: Payload<K>) {
  const args = publishArgs(kind, deviceId, payload);
  return { args, parsed: parseMessage(args.topic, utf8(args.payload)) };
}

describe('MQTT contract', () => {
  it('covers every topic kind, and a device may publish exactly the kinds devices send', () => {
    expect(Object.keys(mqttContract).sort()).toEqual([...TOPIC_KINDS].sort());
    for (const kind of TOPIC_KINDS) {
      const topic = publishArgs(kind, deviceId, samples[kind]).topic;
      const upstream = mqttContract[kind].direction === 'device->cloud';
      expect(devicePublishAllowed(deviceId, topic), kind).toBe(upstream);
      expect(deviceSubscribeAllowed(deviceId, topic), kind).toBe(!upstream);
      expect(devicePublishAllowed(other, topic), kind).toBe(false);
      expect(deviceSubscribeAllowed(other, topic), kind).toBe(false);
    }
    expect(deviceSubscribeAllowed(deviceId, filters.telemetry)).toBe(false);
  });

  it('round-trips every kind: the topic, QoS and retain of the contract, and the payload back', () => {
    for (const kind of TOPIC_KINDS) {
      const { args, parsed } = publishAndParse(kind, samples[kind]);
      expect(args.options).toEqual({ qos: mqttContract[kind].qos, retain: mqttContract[kind].retain });
      expect(parsed).toEqual({ ok: true, kind, deviceId, payload: samples[kind] });
    }
    expect(publishArgs('status', deviceId, { state: 'offline' })).toEqual({
      topic: topics.status(deviceId),
      payload: '{"state":"offline"}',
      options: { qos: 1, retain: true },
    });
    expect(publishArgs('desired', deviceId, samples.desired).options).toEqual({ qos: 1, retain: true });
    expect(lastWill(deviceId)).toEqual({ topic: topics.status(deviceId), payload: '{"state":"offline"}', qos: 1, retain: true });
  });

  it('fills in defaults for a receiver: a telemetry window from an older agent is the probe’s', () => {
    const { source: _s, cacheHits: _c, fallbacks: _f, ...old } = samples.telemetry;
    const { parsed } = publishAndParse('telemetry', old);
    expect(parsed.ok && parsed.kind === 'telemetry' && parsed.payload).toMatchObject({ source: 'probe', cacheHits: 0, fallbacks: 0 });
  });

  it('refuses a topic outside the contract, naming it', () => {
    for (const topic of ['fleet/v1/devices/+/telemetry', `fleet/v1/devices/${deviceId}/telemetry/x`, 'other/topic', '']) {
      const r = parseMessage(topic, utf8('{}'));
      expect(r).toMatchObject({ ok: false, kind: null, deviceId: null, error: { code: 'unknown_topic' } });
      expect(!r.ok && r.error.reason).toContain(JSON.stringify(topic));
    }
  });

  it('refuses JSON that is not JSON, including a byte order mark and invalid UTF-8', () => {
    for (const bytes of [utf8('{not json'), utf8(''), utf8('\uFEFF{"state":"online"}'), Uint8Array.from([0x7b, 0xff, 0x7d])]) {
      const r = parsePayload('telemetry', deviceId, bytes);
      expect(r).toEqual({ ok: false, kind: 'telemetry', deviceId, error: { code: 'bad_json', reason: 'payload is not valid JSON' } });
    }
  });

  it('refuses a schema failure with the zod path of each offending field and keeps the JSON', () => {
    const bad = { ...samples.telemetry, inferences: -5, latencyMs: { p50: 'NaN', p95: 1, p99: 1, max: 1 } };
    const r = parseMessage(topics.telemetry(deviceId), utf8(JSON.stringify(bad)));
    if (r.ok || r.error.code !== 'schema') throw new Error(`expected a schema error, got ${JSON.stringify(r)}`);
    expect(r.kind).toBe('telemetry');
    expect(r.error.issues.map((i) => i.path)).toEqual(['inferences', 'latencyMs.p50']);
    expect(r.error.reason).toMatch(/^schema: inferences: .+; latencyMs\.p50: .+$/);
    expect(r.error.value).toEqual(bad);
    const root = parsePayload('commands', deviceId, utf8('[1]'));
    expect(!root.ok && root.error.reason).toMatch(/^schema: \(root\): /);
  });

  it('refuses a payload that names another device than its topic', () => {
    for (const kind of ['telemetry', 'reported'] as const) {
      const r = parsePayload(kind, deviceId, utf8(encodeMessage(kind, { ...samples[kind], deviceId: other })));
      expect(r).toMatchObject({
        ok: false,
        kind,
        error: { code: 'device_mismatch', reason: 'deviceId in payload does not match the topic' },
      });
    }
  });

  it('refuses a payload above its kind’s size before decoding it', () => {
    const big = new Uint8Array(64 * 1024 + 1).fill(0x20);
    expect(parsePayload('telemetry', deviceId, big)).toMatchObject({
      ok: false,
      error: { code: 'too_large', reason: 'payload of 65537 bytes exceeds 65536' },
    });
    // the same bytes are only whitespace to a kind that allows them: they fail as JSON, not as size
    expect(parsePayload('desired', deviceId, big)).toMatchObject({ ok: false, error: { code: 'bad_json' } });
  });

  it('tells a cleared retained message from an empty one on a topic that is not retained', () => {
    expect(parseMessage(topics.status(deviceId), new Uint8Array(0))).toMatchObject({
      ok: false,
      kind: 'status',
      error: { code: 'cleared' },
    });
    expect(parseMessage(topics.desired(deviceId), new Uint8Array(0))).toMatchObject({
      ok: false,
      kind: 'desired',
      error: { code: 'cleared' },
    });
    expect(parseMessage(topics.reported(deviceId), new Uint8Array(0))).toMatchObject({ ok: false, error: { code: 'bad_json' } });
  });

  it('decodes JSON from bytes or text, undefined for anything else', () => {
    expect(decodeJson(utf8('{"a":[1,"é"]}'))).toEqual({ a: [1, 'é'] });
    expect(decodeJson('{"a":1}')).toEqual({ a: 1 });
    expect(decodeJson('{"a":')).toBeUndefined();
  });
});
