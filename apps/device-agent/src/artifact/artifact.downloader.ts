import { createHash } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { mkdir, open, readdir, rename, rm, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { errorMessage } from '../core/logger.js';
import { describeConnectionError, type Fetch } from '../core/tls-trust.js';

export type ArtifactFailureCode = 'download_failed' | 'size_mismatch' | 'hash_mismatch' | 'signature_invalid' | 'hardware_mismatch';

export class ArtifactError extends Error {
  constructor(
    readonly reasonCode: ArtifactFailureCode,
    message: string,
  ) {
    super(message);
    this.name = 'ArtifactError';
  }
}

export interface ArtifactRef {
  url: string;
  sha256: string;
  sizeBytes: number;
}

export interface DownloaderOptions {
  modelsDir: string;
  username: string;
  password: string;
  /** Abort when no byte arrives for this long (default 30 s); the partial file is kept for a resume. */
  stallTimeoutMs?: number;
  /** Abort a single download attempt after this long in total (default 10 min). */
  deadlineMs?: number;
  /** Called after each chunk is written with the bytes now on disk (crash points, progress). */
  onProgress?: (bytesOnDisk: number, ref: ArtifactRef) => void;
  /** How requests are made: trusting only the CA pinned at enrollment (`trustedFetch`); default the platform's fetch. */
  fetch?: Fetch;
}

export const DEFAULT_STALL_TIMEOUT_MS = 30_000;
export const DEFAULT_DOWNLOAD_DEADLINE_MS = 600_000;

/**
 * Fetches model artifacts into `<modelsDir>/.tmp-<sha>` and promotes them to `<sha>.onnx` only
 * after size and sha256 match. Nothing unverified is ever at a path the engine loads from.
 * A partial temp file survives network failures and restarts and is resumed with an HTTP Range
 * request; only the current candidate's temp file is ever kept.
 */
export class ArtifactDownloader {
  private readonly authHeader: string;

  constructor(private readonly options: DownloaderOptions) {
    this.authHeader = `Basic ${Buffer.from(`${options.username}:${options.password}`).toString('base64')}`;
  }

  get modelsDir(): string {
    return this.options.modelsDir;
  }

  modelPath(sha256: string): string {
    return join(this.options.modelsDir, `${sha256}.onnx`);
  }

  tmpPath(sha256: string): string {
    return join(this.options.modelsDir, `.tmp-${sha256}`);
  }

  async hasVerified(sha256: string): Promise<boolean> {
    return stat(this.modelPath(sha256)).then(
      (s) => s.isFile(),
      () => false,
    );
  }

  /** sha256 of the verified models on disk. */
  async listVerified(): Promise<string[]> {
    const names = await readdir(this.options.modelsDir).catch(() => []);
    return names.flatMap((n) => /^([0-9a-f]{64})\.onnx$/.exec(n)?.slice(1, 2) ?? []);
  }

  /** Bytes of a partial download on disk (0 when there is none). */
  async partialSize(sha256: string): Promise<number> {
    return stat(this.tmpPath(sha256)).then(
      (s) => s.size,
      () => 0,
    );
  }

  /**
   * Deletes every verified model not in `keep` (the active one and the previous one stay, so a
   * rollback needs no download) and every temp file. Returns the removed sha256s.
   */
  async prune(keep: ReadonlySet<string>): Promise<string[]> {
    const names = await readdir(this.options.modelsDir).catch(() => []);
    const removed: string[] = [];
    for (const name of names) {
      const sha = /^([0-9a-f]{64})\.onnx$/.exec(name)?.[1];
      if (name.startsWith('.tmp-') || (sha !== undefined && !keep.has(sha))) {
        await rm(join(this.options.modelsDir, name), { force: true });
        if (sha !== undefined) removed.push(sha);
      }
    }
    return removed;
  }

  /**
   * Streams the artifact to its temp file, resuming a partial one, never past `sizeBytes`.
   * Network failures keep the partial file for the next attempt; content errors delete it.
   */
  async download(ref: ArtifactRef): Promise<string> {
    await mkdir(this.options.modelsDir, { recursive: true });
    const tmp = this.tmpPath(ref.sha256);
    // Temp space is bounded: only the current candidate's partial file may exist.
    for (const name of await readdir(this.options.modelsDir)) {
      if (name.startsWith('.tmp-') && name !== `.tmp-${ref.sha256}`) await rm(join(this.options.modelsDir, name), { force: true });
    }
    try {
      await this.fetchTo(ref, tmp);
      return tmp;
    } catch (err) {
      if (err instanceof ArtifactError && err.reasonCode !== 'download_failed') {
        await rm(tmp, { force: true });
        throw err;
      }
      // An empty partial file is worth nothing; a non-empty one is resumed next time.
      if ((await this.partialSize(ref.sha256)) === 0) await rm(tmp, { force: true });
      if (err instanceof ArtifactError) throw err;
      // a server whose certificate does not verify is named as such, not as a network failure
      throw new ArtifactError('download_failed', `download of ${ref.url} failed: ${describeConnectionError(err)}`);
    }
  }

  /** Checks size then sha256 of the temp file and renames it into place; deletes it on mismatch. */
  async verify(ref: ArtifactRef): Promise<string> {
    const tmp = this.tmpPath(ref.sha256);
    try {
      const size = (await stat(tmp)).size;
      if (size !== ref.sizeBytes) {
        throw new ArtifactError('size_mismatch', `artifact is ${size} bytes, expected ${ref.sizeBytes}`);
      }
      const actual = await sha256File(tmp);
      if (actual !== ref.sha256) {
        throw new ArtifactError('hash_mismatch', `artifact sha256 is ${actual}, expected ${ref.sha256}`);
      }
      await rename(tmp, this.modelPath(ref.sha256));
      return this.modelPath(ref.sha256);
    } catch (err) {
      await rm(tmp, { force: true });
      if (err instanceof ArtifactError) throw err;
      throw new ArtifactError('download_failed', `verification failed: ${errorMessage(err)}`);
    }
  }

  private async fetchTo(ref: ArtifactRef, tmp: string): Promise<void> {
    const abort = new AbortController();
    const stallMs = this.options.stallTimeoutMs ?? DEFAULT_STALL_TIMEOUT_MS;
    const deadlineMs = this.options.deadlineMs ?? DEFAULT_DOWNLOAD_DEADLINE_MS;
    let have = await this.partialSize(ref.sha256);
    if (have > ref.sizeBytes) {
      await rm(tmp, { force: true });
      have = 0;
    }
    if (have === ref.sizeBytes) return; // complete already (e.g. killed after download, before verify)
    const deadline = setTimeout(() => abort.abort(new Error(`not complete within the ${deadlineMs} ms deadline`)), deadlineMs);
    let stall = setTimeout(() => abort.abort(new Error(`stalled: no data for ${stallMs} ms`)), stallMs);
    const touch = (): void => {
      clearTimeout(stall);
      stall = setTimeout(() => abort.abort(new Error(`stalled: no data for ${stallMs} ms`)), stallMs);
    };
    // Positional writes: 'a' would ignore the offset (O_APPEND).
    const file = await open(tmp, have > 0 ? 'r+' : 'w', 0o600);
    try {
      let res = await this.request(ref, have, abort.signal);
      if (have > 0 && [200, 206, 416].includes(res.status) && !resumes(res, have, ref.sizeBytes)) {
        // 200, 416 or a Content-Range that is not what we asked for: the partial file is not trusted.
        await file.truncate(0);
        have = 0;
        if (res.status !== 200) {
          await res.body?.cancel().catch(() => undefined);
          res = await this.request(ref, 0, abort.signal);
        }
      }
      const expected = have > 0 ? 206 : 200;
      if (res.status !== expected || res.body === null) {
        throw new ArtifactError('download_failed', `GET ${ref.url} answered HTTP ${res.status}`);
      }
      const declared = Number(res.headers.get('content-length') ?? NaN);
      if (have + declared > ref.sizeBytes) {
        throw new ArtifactError('size_mismatch', `server announces ${have + declared} bytes, expected ${ref.sizeBytes}`);
      }
      touch();
      const body: AsyncIterable<Uint8Array> = res.body;
      for await (const chunk of body) {
        if (have + chunk.byteLength > ref.sizeBytes) {
          abort.abort();
          throw new ArtifactError('size_mismatch', `artifact exceeds the signed ${ref.sizeBytes} bytes`);
        }
        await file.write(chunk, 0, chunk.byteLength, have);
        have += chunk.byteLength;
        touch();
        this.options.onProgress?.(have, ref);
      }
      await file.sync();
    } catch (err) {
      // An abort reason (stall, deadline) says more than undici's generic AbortError.
      if (abort.signal.aborted && !(err instanceof ArtifactError) && abort.signal.reason instanceof Error) {
        throw new ArtifactError(
          'download_failed',
          `download of ${ref.url} aborted at ${have}/${ref.sizeBytes} bytes: ${abort.signal.reason.message}`,
        );
      }
      throw err;
    } finally {
      clearTimeout(stall);
      clearTimeout(deadline);
      await file.close();
    }
  }

  private request(ref: ArtifactRef, from: number, signal: AbortSignal): Promise<Response> {
    const headers: Record<string, string> = { authorization: this.authHeader };
    if (from > 0) headers.range = `bytes=${from}-`;
    return (this.options.fetch ?? fetch)(ref.url, { headers, signal });
  }
}

/** Only a 206 whose Content-Range starts where the partial file ends and names the signed total continues it. */
function resumes(res: Response, have: number, size: number): boolean {
  if (res.status !== 206) return false;
  const m = /^bytes (\d+)-(\d+)\/(\d+|\*)$/.exec(res.headers.get('content-range') ?? '');
  return m !== null && Number(m[1]) === have && (m[3] === '*' || Number(m[3]) === size);
}

export async function sha256File(path: string): Promise<string> {
  const hash = createHash('sha256');
  for await (const chunk of createReadStream(path)) hash.update(chunk as Buffer);
  return hash.digest('hex');
}
