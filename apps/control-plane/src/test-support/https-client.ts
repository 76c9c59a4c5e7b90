import { request as httpsRequest } from 'node:https';

export interface HttpsAnswer {
  status: number;
  body: string;
}

/**
 * One HTTPS request trusting `ca` alone (node:https): how a test reaches a control plane with TLS=on,
 * whose generated CA the platform's fetch does not know.
 */
export function httpsCall(
  method: string,
  url: string,
  ca: string,
  body?: unknown,
  headers: Record<string, string> = {},
): Promise<HttpsAnswer> {
  return new Promise((resolve, reject) => {
    const req = httpsRequest(url, { method, ca, headers: { 'content-type': 'application/json', ...headers } }, (res) => {
      let text = '';
      res.setEncoding('utf8');
      res.on('data', (c: string) => (text += c));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body: text }));
    });
    req.on('error', reject);
    req.end(body === undefined ? undefined : JSON.stringify(body));
  });
}
