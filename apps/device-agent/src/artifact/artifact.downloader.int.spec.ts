import { mkdtemp, readdir, readFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
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
  server.mode = 'ok';
  server.chunked = false;
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

  it('rejects a flipped byte as hash_mismatch', async () => {
    server.mode = 'mutate';
    await expectRejected('hash_mismatch');
  });

  it('rejects a truncated file as size_mismatch', async () => {
    server.mode = 'truncate';
    await expectRejected('size_mismatch');
  });

  it('rejects a too-long file announced by Content-Length', async () => {
    server.mode = 'append';
    await expectRejected('size_mismatch');
  });

  it('stops reading a too-long chunked stream at the expected size', async () => {
    server.mode = 'append';
    server.chunked = true;
    await expectRejected('size_mismatch');
  });

  it('reports HTTP errors as download_failed', async () => {
    server.mode = 'http500';
    await expectRejected('download_failed');
  });

  it('rejects a right-sized file with the wrong expected sha', async () => {
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
