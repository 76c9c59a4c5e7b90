import { request } from 'node:http';

export interface OipTarget {
  socketPath?: string;
  port?: number;
  token?: string;
}

export interface OipAnswer {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  body: Buffer;
  json(): unknown;
}

/** A plain HTTP client of the local inference API (Unix socket or loopback TCP), as an application would call it. */
export function oipRequest(
  target: OipTarget,
  method: string,
  path: string,
  body?: Buffer | string | object,
  headers: Record<string, string> = {},
): Promise<OipAnswer> {
  const payload =
    body === undefined ? undefined : Buffer.isBuffer(body) ? body : Buffer.from(typeof body === 'string' ? body : JSON.stringify(body));
  const all: Record<string, string> = { ...headers };
  if (payload !== undefined) all['content-length'] = String(payload.length);
  if (target.token !== undefined) all.authorization = `Bearer ${target.token}`;
  return new Promise((resolve, reject) => {
    const req = request(
      {
        method,
        path,
        headers: all,
        ...(target.socketPath === undefined ? { host: '127.0.0.1', port: target.port } : { socketPath: target.socketPath }),
      },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () => {
          const buf = Buffer.concat(chunks);
          resolve({
            status: res.statusCode ?? 0,
            headers: res.headers,
            body: buf,
            json: () => JSON.parse(buf.toString('utf8')) as unknown,
          });
        });
        res.on('error', reject);
      },
    );
    req.on('error', reject);
    req.end(payload);
  });
}

/** A binary tensor extension body: the JSON header, then each tensor's bytes in order. */
export function binaryBody(header: object, tensors: readonly ArrayBufferView[]): { body: Buffer; headers: Record<string, string> } {
  const json = Buffer.from(JSON.stringify(header));
  const parts = tensors.map((t) => Buffer.from(t.buffer, t.byteOffset, t.byteLength));
  return {
    body: Buffer.concat([json, ...parts]),
    headers: { 'content-type': 'application/octet-stream', 'inference-header-content-length': String(json.length) },
  };
}
