import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { parseCliArgs, resolveProfile, serveConfigFrom } from './cli-args.parser.js';

const base = ['--url', 'http://127.0.0.1:3000', '--data-dir', '/tmp/d'];

describe('parseCliArgs', () => {
  it('parses every option', () => {
    const r = parseCliArgs(
      [
        ...base,
        '--token',
        'tok_0123456789abcdef',
        '--profile',
        'edge-npu-trading',
        '--name',
        'box-1',
        '--mqtt-url',
        'mqtt://127.0.0.1:1883',
        '--log-level',
        'debug',
        '--seed',
        '42',
        '--download-stall-timeout',
        '5',
        '--download-deadline',
        '120',
        '--watchdog-windows',
        '4',
        '--watchdog-breaches',
        '3',
      ],
      { FLEET_AGENT_CRASH_AT: 'before-swap' },
    );
    expect(r).toEqual({
      ok: true,
      value: {
        url: 'http://127.0.0.1:3000',
        dataDir: '/tmp/d',
        token: 'tok_0123456789abcdef',
        profile: 'edge-npu-trading',
        name: 'box-1',
        mqttUrl: 'mqtt://127.0.0.1:1883',
        logLevel: 'debug',
        seed: 42,
        downloadStallTimeoutS: 5,
        downloadDeadlineS: 120,
        watchdogWindows: 4,
        watchdogBreaches: 3,
        crashAt: 'before-swap',
        servePort: 8701,
        serveHost: '127.0.0.1',
        serveQueue: 64,
        serveMaxBodyMb: 64,
        probe: 'idle',
        injectLatencyAfterS: 0,
        outboxMaxMb: 10,
        outboxMaxAgeHours: 24,
        enrollAttempts: 0,
      },
    });
  });

  it('local inference API: socket in the data dir and loopback port 8701 by default; "off" disables either', () => {
    const r = parseCliArgs(base);
    if (!r.ok) throw new Error(r.message);
    expect(serveConfigFrom(r.value)).toEqual({
      ok: true,
      value: {
        socketPath: join(r.value.dataDir, 'inference.sock'),
        host: '127.0.0.1',
        port: 8701,
        token: null,
        maxBodyBytes: 64 * 1024 * 1024,
        queueDepth: 64,
        deadlineMs: null,
      },
    });
    const off = parseCliArgs([...base, '--serve-socket', 'off', '--serve-port', 'off']);
    if (!off.ok) throw new Error(off.message);
    expect(serveConfigFrom(off.value)).toMatchObject({ ok: true, value: { socketPath: null, port: null } });
  });

  it('fault injection is off unless --inject-latency-ms is given, and a bad value is named', () => {
    const off = parseCliArgs(base);
    expect(off.ok && off.value.injectLatencyMs).toBeUndefined();
    const on = parseCliArgs([...base, '--inject-latency-ms', '80', '--inject-latency-after-s', '90']);
    expect(on).toMatchObject({ ok: true, value: { injectLatencyMs: 80, injectLatencyAfterS: 90 } });
    expect(parseCliArgs([...base, '--inject-latency-ms', '0'])).toMatchObject({
      ok: false,
      message: expect.stringMatching(/--inject-latency-ms must be at least 1/) as unknown,
    });
  });

  it('the result cache flags are caps, absent unless given', () => {
    const r = parseCliArgs([...base, '--serve-cache-entries', '32']);
    if (!r.ok) throw new Error(r.message);
    const serve = serveConfigFrom(r.value);
    expect(serve.ok && serve.value.cacheEntries).toBe(32);
    expect(serve.ok && 'cacheTtlMs' in serve.value).toBe(false);
  });

  it('serving on another address needs a bearer token file, read from the file', () => {
    expect(parseCliArgs([...base, '--serve-host', '0.0.0.0'])).toMatchObject({
      ok: false,
      message: expect.stringMatching(/--serve-host other than loopback needs --serve-token-file/) as unknown,
    });
    const r = parseCliArgs([...base, '--serve-host', '0.0.0.0', '--serve-token-file', '/etc/tok']);
    if (!r.ok) throw new Error(r.message);
    expect(serveConfigFrom(r.value, () => 'abcdefghijklmnopqrstuvwxyz\n')).toMatchObject({
      ok: true,
      value: { token: 'abcdefghijklmnopqrstuvwxyz' },
    });
    expect(serveConfigFrom(r.value, () => 'short')).toMatchObject({
      ok: false,
      message: expect.stringMatching(/at least 16 characters/) as unknown,
    });
    expect(parseCliArgs([...base, '--serve-port', 'eighty'])).toMatchObject({
      ok: false,
      message: expect.stringMatching(/--serve-port must be a port number/) as unknown,
    });
  });

  it('defaults the download timeouts and the watchdog to 30 s, 10 min, 2 bad of 3 windows', () => {
    expect(parseCliArgs(base)).toMatchObject({
      ok: true,
      value: { downloadStallTimeoutS: 30, downloadDeadlineS: 600, watchdogWindows: 3, watchdogBreaches: 2, crashAt: undefined },
    });
  });

  it('takes the telemetry outbox caps in MiB and hours, fractions included, and refuses zero', () => {
    expect(parseCliArgs([...base, '--outbox-max-mb', '0.5', '--outbox-max-age-hours', '1.5'])).toMatchObject({
      ok: true,
      value: { outboxMaxMb: 0.5, outboxMaxAgeHours: 1.5 },
    });
    expect(parseCliArgs([...base, '--outbox-max-mb', '0'])).toEqual({
      ok: false,
      message: expect.stringContaining('--outbox-max-mb must be > 0') as unknown,
    });
    expect(parseCliArgs([...base, '--outbox-max-age-hours', 'soon'])).toEqual({
      ok: false,
      message: expect.stringContaining('--outbox-max-age-hours must be a number of hours') as unknown,
    });
  });

  it('tries an unanswered enrollment until it succeeds unless --enroll-attempts bounds it; a bad count is named', () => {
    expect(parseCliArgs(base)).toMatchObject({ ok: true, value: { enrollAttempts: 0 } });
    expect(parseCliArgs([...base, '--enroll-attempts', '3'])).toMatchObject({ ok: true, value: { enrollAttempts: 3 } });
    expect(parseCliArgs([...base, '--enroll-attempts=-1'])).toEqual({
      ok: false,
      message: expect.stringContaining('--enroll-attempts must be 0 (no limit) or more') as unknown,
    });
  });

  it('names FLEET_AGENT_CRASH_AT when it holds an unknown crash point', () => {
    const r = parseCliArgs(base, { FLEET_AGENT_CRASH_AT: 'sometime' });
    expect(r).toEqual({ ok: false, message: expect.stringContaining('FLEET_AGENT_CRASH_AT:') as unknown });
  });

  it('defaults the log level and leaves enrollment options optional', () => {
    expect(parseCliArgs(base)).toMatchObject({ ok: true, value: { logLevel: 'info', token: undefined } });
  });

  it.each([
    [['--data-dir', '/tmp/d'], /--url/],
    [['--url', 'ftp://x', '--data-dir', '/d'], /--url must be an http/],
    [['--url', 'http://x'], /--data-dir is required/],
    [[...base, '--log-level', 'loud'], /logLevel/],
    [[...base, '--mqtt-url', 'localhost'], /--mqtt-url must look like/],
    [[...base, '--token', 'short'], /--token looks too short/],
    [[...base, '--bogus'], /Unknown option '--bogus'/],
    [[...base, '--seed', 'abc'], /seed/],
    [[...base, '--download-stall-timeout', '0'], /--download-stall-timeout must be > 0/],
    [[...base, '--watchdog-windows', '2', '--watchdog-breaches', '3'], /--watchdog-breaches must not exceed --watchdog-windows/],
  ])('rejects %j with a message naming the problem', (argv, message) => {
    const r = parseCliArgs(argv);
    expect(r.ok).toBe(false);
    if (!r.ok) {
      expect(r.message).toMatch(message);
      expect(r.message).toContain('usage: fleet-agent');
    }
  });
});

describe('resolveProfile', () => {
  const files: Record<string, string> = {
    'good.json': JSON.stringify({
      name: 'Lab box',
      hardwareClass: 'lab-cpu',
      accelerator: 'cpu',
      tops: 1,
      sramMb: 0,
      dramMb: 2048,
      powerBudgetW: 10,
      idlePowerW: 2,
      activePowerW: 8,
      precisions: ['fp32'],
      cpuCores: 2,
    }),
    'broken.json': '{ "name": ',
    'invalid.json': JSON.stringify({ name: 'x', hardwareClass: 'UPPER', accelerator: 'tpu' }),
  };
  const read = (p: string): string => {
    const text = files[p];
    if (text === undefined) throw new Error('ENOENT');
    return text;
  };

  it('resolves a preset by name', () => {
    expect(resolveProfile('cloud-cpu-node', read)).toMatchObject({
      ok: true,
      value: { label: 'cloud-cpu-node', profile: { accelerator: 'cpu' } },
    });
  });

  it('reads a JSON profile file', () => {
    expect(resolveProfile('good.json', read)).toMatchObject({ ok: true, value: { label: 'lab-cpu', profile: { name: 'Lab box' } } });
  });

  it('names the known presets for an unknown name', () => {
    const r = resolveProfile('edge-npu-tradnig', read);
    expect(r).toEqual({ ok: false, message: expect.stringContaining('neither a hardware preset (known: edge-npu-trading,') as unknown });
  });

  it('says when the file is not JSON', () => {
    expect(resolveProfile('broken.json', read)).toEqual({
      ok: false,
      message: expect.stringContaining('broken.json is not valid JSON') as unknown,
    });
  });

  it('names the invalid fields of a profile', () => {
    const r = resolveProfile('invalid.json', read);
    expect(r.ok).toBe(false);
    if (!r.ok) {
      expect(r.message).toContain('not a valid hardware profile');
      expect(r.message).toContain('hardwareClass');
      expect(r.message).toContain('accelerator');
      expect(r.message).toContain('tops');
    }
  });
});
