import { provisionTestDevice } from './mqtt.probe.js';
import { TestSigner } from './test-signer.js';
import { randomBytes, randomUUID } from 'node:crypto';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { type EnrollResponse, EnrollRequestSchema } from '@edge-fleet/shared';

/** Just the enrollment endpoint of the control plane, with one-time tokens. */
export class FakeControlPlane {
  private server: Server | null = null;
  private readonly tokens = new Set<string>();
  private readonly used = new Set<string>();
  readonly enrolled: EnrollResponse[] = [];
  requests = 0;

  constructor(private readonly mqttUrl: string) {}

  addToken(token: string): void {
    this.tokens.add(token);
  }

  get url(): string {
    const address = this.server?.address() as AddressInfo | null;
    if (address == null) throw new Error('not started');
    return `http://127.0.0.1:${address.port}`;
  }

  async start(): Promise<void> {
    const server = createServer((req, res) => {
      this.requests++;
      const chunks: Buffer[] = [];
      req.on('data', (c: Buffer) => chunks.push(c));
      req.on('end', () => {
        void this.handle(req.method, req.url, Buffer.concat(chunks).toString('utf8')).then(
          ([status, body]) => res.writeHead(status, { 'content-type': 'application/json' }).end(JSON.stringify(body)),
          (e: unknown) => res.writeHead(500).end(String(e)),
        );
      });
    });
    this.server = server;
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  }

  async stop(): Promise<void> {
    const server = this.server;
    this.server = null;
    if (server !== null) await new Promise<void>((resolve) => server.close(() => resolve()));
  }

  private async handle(method: string | undefined, url: string | undefined, text: string): Promise<[number, unknown]> {
    if (method !== 'POST' || url !== '/api/v1/devices/enroll') return [404, apiError('not_found', 'no such route')];
    let raw: unknown;
    try {
      raw = JSON.parse(text);
    } catch {
      return [400, apiError('bad_request', 'body is not JSON')];
    }
    const parsed = EnrollRequestSchema.safeParse(raw);
    if (!parsed.success) return [400, apiError('validation_failed', parsed.error.message)];
    const token = parsed.data.token;
    if (this.used.has(token)) return [409, apiError('token_used', 'this enrollment token has already been used')];
    if (!this.tokens.has(token)) return [401, apiError('invalid_token', 'unknown or expired enrollment token')];
    this.used.add(token);
    const deviceId = randomUUID();
    const response: EnrollResponse = {
      deviceId,
      deviceSecret: randomBytes(24).toString('hex'),
      scenario: 'robotic_manipulation',
      rootPublicKey: new TestSigner().rootPublicKey,
      mqtt: { url: this.mqttUrl, username: deviceId, clientId: deviceId },
    };
    // the real control plane creates the device's broker client at enrollment
    await provisionTestDevice(deviceId, response.deviceSecret);
    this.enrolled.push(response);
    return [201, response];
  }
}

function apiError(code: string, message: string): { error: { code: string; message: string } } {
  return { error: { code, message } };
}
