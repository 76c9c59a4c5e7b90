import type { HardwareProfile, Scenario } from '@edge-fleet/shared';
import { z } from 'zod';
import { SimEnrollResponseSchema, type SimEnrollResponse } from './desired.view.js';

const TokenResponseSchema = z.object({ token: z.string().min(16) });
const ErrorBodySchema = z.object({ error: z.object({ code: z.string(), message: z.string() }) });

/** The few REST calls the simulator makes, with the control plane's error message in every failure. */
export class ControlPlaneClient {
  constructor(
    readonly baseUrl: string,
    private readonly operatorToken: string | null,
    /** Longest total wait on 429 answers (their Retry-After) before a request fails. */
    private readonly maxRateLimitWaitMs = 600_000,
  ) {}

  async createEnrollmentToken(scenario: Scenario, maxUses: number): Promise<string> {
    const body = await this.request(
      'POST',
      '/api/v1/enrollment-tokens',
      { scenario, maxUses, ttlSeconds: 86_400, labels: { source: 'fleet-sim' } },
      true,
    );
    return TokenResponseSchema.parse(body).token;
  }

  async enroll(token: string, name: string, hardwareProfile: HardwareProfile): Promise<SimEnrollResponse> {
    return SimEnrollResponseSchema.parse(await this.request('POST', '/api/v1/devices/enroll', { token, name, hardwareProfile }, false));
  }

  async getJson(p: string): Promise<unknown> {
    return this.request('GET', p, undefined, true);
  }

  async request(method: string, p: string, body: unknown, operator: boolean): Promise<unknown> {
    const headers: Record<string, string> = {};
    if (body !== undefined) headers['content-type'] = 'application/json';
    if (operator) {
      if (!this.operatorToken) throw new Error(`${method} ${p} needs an operator token (--operator-token or --operator-token-file)`);
      headers.authorization = `Bearer ${this.operatorToken}`;
    }
    let res: Response;
    let waited = 0;
    for (;;) {
      try {
        res = await fetch(`${this.baseUrl}${p}`, { method, headers, body: body === undefined ? null : JSON.stringify(body) });
      } catch (e) {
        throw new Error(`control plane at ${this.baseUrl} did not answer ${method} ${p}: ${e instanceof Error ? e.message : String(e)}`);
      }
      // rate limited (enrolling a large fleet from one address): wait as told, with jitter so that
      // concurrent enrollments do not come back at the same instant
      const retryAfter = Number(res.headers.get('retry-after'));
      if (res.status !== 429 || !(retryAfter > 0) || waited + retryAfter * 1000 > this.maxRateLimitWaitMs) break;
      await res.body?.cancel();
      const delay = retryAfter * 1000 * (1 + Math.random() * 0.5);
      waited += delay;
      await new Promise((r) => setTimeout(r, delay));
    }
    const text = await res.text();
    const json: unknown = text.length > 0 ? safeJson(text) : null;
    if (!res.ok) {
      const err = ErrorBodySchema.safeParse(json);
      throw new Error(`${method} ${p} failed with HTTP ${res.status}: ${err.success ? err.data.error.message : text.slice(0, 300)}`);
    }
    return json;
  }
}

function safeJson(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    return text;
  }
}
