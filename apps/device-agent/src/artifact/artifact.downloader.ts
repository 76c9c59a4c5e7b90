import { createHash } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { mkdir, open, readdir, rename, rm, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { errorMessage } from '../core/logger.js';

export type ArtifactFailureCode = 'download_failed' | 'size_mismatch' | 'hash_mismatch' | 'signature_invalid';

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
  /** Abort when no byte arrives for this long. */
  stallTimeoutMs?: number;
}

/**
 * Fetches model artifacts into `<modelsDir>/.tmp-<sha>` and promotes them to `<sha>.onnx` only
 * after size and sha256 match. Nothing unverified is ever at a path the engine loads from.
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

  /**
   * Deletes leftover temp files and every verified model not in `keep` (the active one and the
   * previous one stay, so a rollback needs no download). Returns the removed sha256s.
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

  /** Streams the artifact to its temp file, stopping at `sizeBytes`; deletes the file on any failure. */
  async download(ref: ArtifactRef): Promise<string> {
    await mkdir(this.options.modelsDir, { recursive: true });
    const tmp = this.tmpPath(ref.sha256);
    try {
      await this.fetchTo(ref, tmp);
      return tmp;
    } catch (err) {
      await rm(tmp, { force: true });
      if (err instanceof ArtifactError) throw err;
      throw new ArtifactError('download_failed', `download of ${ref.url} failed: ${errorMessage(err)}`);
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
    const stallMs = this.options.stallTimeoutMs ?? 30_000;
    let stall = setTimeout(() => abort.abort(new Error(`stalled for ${stallMs} ms`)), stallMs);
    const file = await open(tmp, 'w', 0o600);
    try {
      const res = await fetch(ref.url, { headers: { authorization: this.authHeader }, signal: abort.signal });
      if (!res.ok || res.body === null) throw new ArtifactError('download_failed', `GET ${ref.url} answered HTTP ${res.status}`);
      const declared = Number(res.headers.get('content-length') ?? NaN);
      if (declared > ref.sizeBytes) {
        throw new ArtifactError('size_mismatch', `server announces ${declared} bytes, expected ${ref.sizeBytes}`);
      }
      let received = 0;
      const body: AsyncIterable<Uint8Array> = res.body;
      for await (const chunk of body) {
        received += chunk.byteLength;
        if (received > ref.sizeBytes) {
          abort.abort();
          throw new ArtifactError('size_mismatch', `artifact exceeds the expected ${ref.sizeBytes} bytes`);
        }
        await file.write(chunk);
        clearTimeout(stall);
        stall = setTimeout(() => abort.abort(new Error(`stalled for ${stallMs} ms`)), stallMs);
      }
      await file.sync();
    } finally {
      clearTimeout(stall);
      await file.close();
    }
  }
}

export async function sha256File(path: string): Promise<string> {
  const hash = createHash('sha256');
  for await (const chunk of createReadStream(path)) hash.update(chunk as Buffer);
  return hash.digest('hex');
}
