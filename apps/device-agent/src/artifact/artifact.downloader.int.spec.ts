import { mkdtemp, readdir, readFile, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { TcpProxy, waitFor } from '@edge-fleet/test-utils';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { ArtifactServer } from '../test-support/artifact.server.js';
import { type ModelFile, writeModel } from '../test-support/models.js';
import { ArtifactDownloader, ArtifactError, type ArtifactRef } from './artifact.downloader.js';

const server = new ArtifactServer();
let model: ModelFile;
let modelsDir: string;
let downloader: ArtifactDownloader;
let ref: ArtifactRef;

beforeAll(async () => {
  model = await writeModel('mlp');
  server.add('/artifacts/mlp.onnx', model.bytes);
  await server.start();
});

afterAll(async () => {
  await server.stop();
});

beforeEach(async () => {
  server.reset();
  modelsDir = join(await mkdtemp(join(tmpdir(), 'agent-dl-')), 'models');
  downloader = new ArtifactDownloader({ modelsDir, username: 'dev-1', password: 's3cret' });
  ref = { url: server.url('/artifacts/mlp.onnx'), sha256: model.sha256, sizeBytes: model.bytes.length };
});

async function fetchAndVerify(): Promise<string> {
  await downloader.download(ref);
  return downloader.verify(ref);
}

async function expectRejected(code: ArtifactError['reasonCode']): Promise<void> {
  const error: unknown = await fetchAndVerify().then(
    () => null,
    (e: unknown) => e,
  );
  expect(error).toBeInstanceOf(ArtifactError);
  expect((error as ArtifactError).reasonCode).toBe(code);
  // Nothing left behind: neither the temp file nor a promoted model.
  expect(await readdir(modelsDir)).toEqual([]);
  expect(await downloader.hasVerified(model.sha256)).toBe(false);
}

describe('ArtifactDownloader against a loopback HTTP server', () => {
  it('accepts a good file, with Basic auth, at <sha>.onnx', async () => {
    const path = await fetchAndVerify();
    expect(path).toBe(join(modelsDir, `${model.sha256}.onnx`));
    expect(new Uint8Array(await readFile(path))).toEqual(model.bytes);
    expect(server.lastAuthorization).toBe(`Basic ${Buffer.from('dev-1:s3cret').toString('base64')}`);
    expect(await readdir(modelsDir)).toEqual([`${model.sha256}.onnx`]);
  });

  it('row 5: rejects a flipped byte as hash_mismatch', async () => {
    server.mode = 'mutate';
    await expectRejected('hash_mismatch');
  });

  it('row 5: rejects a truncated file as size_mismatch', async () => {
    server.mode = 'truncate';
    await expectRejected('size_mismatch');
  });

  it('row 5: rejects a too-long file announced by Content-Length', async () => {
    server.mode = 'append';
    await expectRejected('size_mismatch');
  });

  it('row 5: stops reading a too-long chunked stream at the expected size', async () => {
    server.mode = 'append';
    server.chunked = true;
    await expectRejected('size_mismatch');
  });

  it("issue 10 item 6: a 403 (an artifact none of this device's desired states named) is a download_failed naming it; nothing kept", async () => {
    server.mode = 'forbidden';
    await expectRejected('download_failed');
    await expect(downloader.download(ref)).rejects.toThrow(/HTTP 403/);
  });

  it('reports HTTP errors as download_failed', async () => {
    server.mode = 'http500';
    await expectRejected('download_failed');
  });

  it('row 5: rejects a right-sized file with the wrong expected sha', async () => {
    ref = { ...ref, sha256: 'a'.repeat(64) };
    const error = await fetchAndVerify().catch((e: unknown) => e);
    expect((error as ArtifactError).reasonCode).toBe('hash_mismatch');
    expect(await readdir(modelsDir)).toEqual([]);
  });

  it('reports an unreachable server as download_failed', async () => {
    ref = { ...ref, url: 'http://127.0.0.1:1/nothing' };
    await expectRejected('download_failed');
  });
});

/** Attempts `download` with a fresh downloader each time (as after a restart) until it succeeds. */
async function downloadWithRestarts(
  maxAttempts: number,
  options: Partial<ConstructorParameters<typeof ArtifactDownloader>[0]> = {},
): Promise<ArtifactError[]> {
  const failures: ArtifactError[] = [];
  for (let i = 0; i < maxAttempts; i++) {
    const fresh = new ArtifactDownloader({ modelsDir, username: 'dev-1', password: 's3cret', ...options });
    try {
      await fresh.download(ref);
      return failures;
    } catch (err) {
      if (!(err instanceof ArtifactError)) throw err;
      failures.push(err);
    }
  }
  throw new Error(`no complete download in ${maxAttempts} attempts: ${failures.map((f) => f.message).join('; ')}`);
}

const tmpName = (): string => `.tmp-${model.sha256}`;

describe('resumable download (HTTP Range)', () => {
  it('row 2: resumes a download interrupted at several offsets, across restarts, fetching each byte once', async () => {
    const size = model.bytes.length;
    const offsets = [1_000, Math.floor(size / 2), size - 1];
    server.mode = 'drop';
    server.dropAt = [...offsets];
    const failures = await downloadWithRestarts(10);
    expect(failures.map((f) => f.reasonCode)).toEqual(['download_failed', 'download_failed', 'download_failed']);
    expect(server.ranges).toEqual([null, ...offsets.map((o) => `bytes=${o}-`)]);
    // issue 10 item 6: the control plane checks the device on every request, a resumed one too
    expect(server.authorizations).toEqual(Array.from(server.ranges, () => `Basic ${Buffer.from('dev-1:s3cret').toString('base64')}`));
    expect(server.bytesServed).toBe(size);
    expect(await downloader.verify(ref)).toBe(join(modelsDir, `${model.sha256}.onnx`));
    expect(await readdir(modelsDir)).toEqual([`${model.sha256}.onnx`]);
  });

  it('keeps the partial file across a 5xx and resumes afterwards', async () => {
    server.mode = 'drop';
    server.dropAt = [4_000];
    await expect(downloader.download(ref)).rejects.toThrow(ArtifactError);
    server.mode = 'http500';
    await expect(downloader.download(ref)).rejects.toThrow(/HTTP 500/);
    expect((await stat(join(modelsDir, tmpName()))).size).toBe(4_000);
    server.mode = 'ok';
    await fetchAndVerify();
    expect(server.ranges.slice(-2)).toEqual(['bytes=4000-', 'bytes=4000-']);
  });

  it.each([
    ['answers 200 to a Range request', 'ignore-range', [null, 'bytes=3000-']],
    ['answers 416', 'refuse-range', [null, 'bytes=3000-', null]],
    ['sends a Content-Range that starts elsewhere', 'bad-content-range', [null, 'bytes=3000-', null]],
  ] as const)('restarts from zero when the server %s', async (_what, mode, ranges) => {
    server.mode = 'drop';
    server.dropAt = [3_000];
    await expect(downloader.download(ref)).rejects.toThrow(ArtifactError);
    server.mode = mode;
    await fetchAndVerify();
    expect(server.ranges).toEqual(ranges);
  });

  it('row 9: cuts an endless stream at the signed length, rejects it and deletes it', async () => {
    server.mode = 'endless';
    let most = 0;
    downloader = new ArtifactDownloader({ modelsDir, username: 'u', password: 'p', onProgress: (n) => (most = Math.max(most, n)) });
    await expectRejected('size_mismatch');
    expect(most).toBeLessThanOrEqual(model.bytes.length);
  });

  it('row 9: aborts a stalled download within the stall timeout and keeps what arrived', async () => {
    server.mode = 'stall';
    server.stallAfterBytes = 2_000;
    downloader = new ArtifactDownloader({ modelsDir, username: 'u', password: 'p', stallTimeoutMs: 300 });
    const started = Date.now();
    const error = await downloader.download(ref).catch((e: unknown) => e);
    const elapsed = Date.now() - started;
    expect((error as ArtifactError).reasonCode).toBe('download_failed');
    expect((error as ArtifactError).message).toMatch(/stalled: no data for 300 ms/);
    expect(elapsed).toBeGreaterThanOrEqual(290);
    expect(elapsed).toBeLessThan(1_500);
    expect((await stat(join(modelsDir, tmpName()))).size).toBe(2_000);
    server.mode = 'ok';
    await fetchAndVerify();
    expect(server.ranges.at(-1)).toBe('bytes=2000-');
  });

  it('row 9: a path that goes half-open mid-download (no FIN, no RST) is aborted at the stall timeout, keeps what arrived, and resumes once the path is back', async () => {
    const proxy = await TcpProxy.start('127.0.0.1', Number(new URL(server.url('/')).port));
    try {
      const viaProxy = { ...ref, url: `http://127.0.0.1:${proxy.port}/artifacts/mlp.onnx` };
      proxy.throttle(16 * 1024); // a thin link: the model takes over 2 s, so the path dies mid-stream
      downloader = new ArtifactDownloader({ modelsDir, username: 'u', password: 'p', stallTimeoutMs: 400 });
      const tmp = join(modelsDir, tmpName());
      const failed = downloader.download(viaProxy).catch((e: unknown) => e);
      await waitFor(
        async () =>
          (await stat(tmp).then(
            (x) => x.size,
            () => 0,
          )) > 4_000
            ? true
            : null,
        10_000,
        'the first bytes',
      );
      await proxy.cut('half-open');
      const error = await failed;
      expect((error as ArtifactError).reasonCode).toBe('download_failed');
      expect((error as ArtifactError).message).toMatch(/stalled: no data for 400 ms/);
      const kept = (await stat(tmp)).size;
      expect(kept).toBeGreaterThan(4_000);
      expect(kept).toBeLessThan(model.bytes.length);

      await proxy.restore();
      await downloader.download(viaProxy);
      expect(await downloader.verify(viaProxy)).toBe(join(modelsDir, `${model.sha256}.onnx`));
      expect(server.ranges.at(-1)).toBe(`bytes=${kept}-`);
    } finally {
      await proxy.close();
    }
  });

  it('row 9: enforces the overall deadline on a trickle that never stalls', async () => {
    server.mode = 'trickle';
    server.trickleBytes = 50;
    server.trickleMs = 10;
    downloader = new ArtifactDownloader({ modelsDir, username: 'u', password: 'p', stallTimeoutMs: 1_000, deadlineMs: 400 });
    const started = Date.now();
    const error = await downloader.download(ref).catch((e: unknown) => e);
    expect((error as ArtifactError).message).toMatch(/400 ms deadline/);
    expect(Date.now() - started).toBeLessThan(1_500);
    const kept = (await stat(join(modelsDir, tmpName()))).size;
    expect(kept).toBeGreaterThan(0);
    expect(kept).toBeLessThan(model.bytes.length);
  });

  it("keeps only the current candidate's temp file", async () => {
    await downloader.download({ ...ref, sizeBytes: 1 }).catch(() => undefined);
    const stale = join(modelsDir, `.tmp-${'e'.repeat(64)}`);
    await writeFile(stale, 'partial of an abandoned candidate');
    await fetchAndVerify();
    expect(await readdir(modelsDir)).toEqual([`${model.sha256}.onnx`]);
  });

  it('starts over when the partial file is longer than the signed size', async () => {
    const { mkdir } = await import('node:fs/promises');
    await mkdir(modelsDir, { recursive: true });
    await writeFile(join(modelsDir, tmpName()), Buffer.alloc(model.bytes.length + 10, 7));
    await fetchAndVerify();
    expect(server.ranges).toEqual([null]);
  });
});
