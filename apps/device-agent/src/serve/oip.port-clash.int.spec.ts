import { mkdtemp } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { silentLogger } from '../core/logger.js';
import { captureLogs } from '../test-support/log.capture.js';
import { oipRequest } from '../test-support/oip.client.js';
import { LocalInferenceService } from './local-inference.service.js';
import { DEFAULT_MAX_BODY_BYTES, type ServeConfig } from './serve.settings.js';

const started: LocalInferenceService[] = [];
afterAll(() => Promise.all(started.map((s) => s.stop())));

async function serve(port: number, logger = silentLogger): Promise<{ service: LocalInferenceService; socketPath: string }> {
  const socketPath = join(await mkdtemp(join(tmpdir(), 'clash-')), 'inference.sock');
  const config: ServeConfig = {
    socketPath,
    host: '127.0.0.1',
    port,
    token: null,
    maxBodyBytes: DEFAULT_MAX_BODY_BYTES,
    queueDepth: 8,
    deadlineMs: null,
  };
  const service = new LocalInferenceService(config, logger);
  started.push(service);
  await service.start();
  return { service, socketPath };
}

describe('two agents on one host (the default TCP port 8701 for both)', () => {
  it('the second agent warns that the port is in use, names the fix, and still serves on its Unix socket', async () => {
    const first = await serve(0);
    const port = first.service.port;
    if (port === null) throw new Error('the first agent has no TCP port');
    const { logger, logs } = captureLogs<{ level: string; msg: string; port?: number; fix?: string }>('info');
    const second = await serve(port, logger);

    expect(second.service.port).toBeNull();
    const warning = logs.find((l) => l.msg === 'inference API TCP port in use; serving on the Unix socket only');
    expect(warning).toMatchObject({ level: 'warn', port });
    expect(warning?.fix).toMatch(/--serve-port 0/);
    expect(logs.some((l) => l.level === 'error')).toBe(false);
    expect((await oipRequest({ socketPath: second.socketPath }, 'GET', '/v2/health/live')).status).toBe(200);
    expect((await oipRequest({ port }, 'GET', '/v2/health/live')).status).toBe(200);
  });
});
