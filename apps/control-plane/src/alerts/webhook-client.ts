import { createHmac } from 'node:crypto';
import http from 'node:http';
import https from 'node:https';
import type { LookupFunction } from 'node:net';
import type { ResolvedTarget } from './url-guard.js';

/** The signature header: `sha256=<hex HMAC-SHA256 of the exact body>` (GitHub's form, so receivers' verifiers work). */
export const SIGNATURE_HEADER = 'X-EdgeFleet-Signature';

export function signBody(secret: string, body: string): string {
  return `sha256=${createHmac('sha256', secret).update(body).digest('hex')}`;
}

export interface PostResult {
  status: number | null;
  error: string | null;
}

/**
 * POSTs the body to the checked target, connecting to the address the guard resolved (not a new DNS
 * answer), with a deadline for the whole exchange: a receiver that hangs costs `timeoutMs`, never more.
 * The answer's body is read and dropped (at most 64 KiB).
 */
export function postSigned(target: ResolvedTarget, body: string, secret: string, timeoutMs: number): Promise<PostResult> {
  const pinned: LookupFunction = (_host, opts, cb) => {
    if (opts.all) cb(null, [{ address: target.address, family: target.family }]);
    else cb(null, target.address, target.family);
  };
  const lib = target.url.protocol === 'https:' ? https : http;
  return new Promise((resolve) => {
    let done = false;
    const finish = (r: PostResult) => {
      if (done) return;
      done = true;
      clearTimeout(timer);
      resolve(r);
    };
    const req = lib.request(
      target.url,
      {
        method: 'POST',
        lookup: pinned,
        headers: {
          'content-type': 'application/json',
          'content-length': Buffer.byteLength(body),
          'user-agent': 'edge-fleet-alerts/1',
          [SIGNATURE_HEADER]: signBody(secret, body),
        },
      },
      (res) => {
        let read = 0;
        res.on('data', (chunk: Buffer) => {
          read += chunk.length;
          if (read > 65_536) res.destroy();
        });
        res.on('end', () => finish({ status: res.statusCode ?? null, error: null }));
        res.on('close', () => finish({ status: res.statusCode ?? null, error: null }));
        res.on('error', () => finish({ status: res.statusCode ?? null, error: null }));
      },
    );
    const timer = setTimeout(() => {
      finish({ status: null, error: `no answer within ${timeoutMs} ms` });
      req.destroy();
    }, timeoutMs);
    req.on('error', (e) => finish({ status: null, error: e.message }));
    req.end(body);
  });
}
