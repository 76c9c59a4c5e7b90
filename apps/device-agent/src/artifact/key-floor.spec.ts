import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { silentLogger } from '../core/logger.js';
import { KeyFloor } from './key-floor.js';

const dirs: string[] = [];
afterAll(async () => {
  for (const d of dirs) await rm(d, { recursive: true, force: true });
});
const dir = async (): Promise<string> => {
  const d = await mkdtemp(join(tmpdir(), 'key-floor-'));
  dirs.push(d);
  return d;
};

describe('KeyFloor', () => {
  it('starts at 0, rises with each higher serial, never falls, and survives a restart', async () => {
    const d = await dir();
    const floor = new KeyFloor(d, silentLogger);
    await floor.load();
    expect(floor.value).toBe(0);
    floor.raise(2);
    floor.raise(1);
    expect(floor.value).toBe(2);
    await floor.flushed();
    const again = new KeyFloor(d, silentLogger);
    await again.load();
    expect(again.value).toBe(2);
    expect(JSON.parse(await readFile(join(d, 'trust.json'), 'utf8'))).toEqual({ schema: 1, minKeySerial: 2 });
  });

  it('refuses to start on a damaged trust file rather than trusting every key again', async () => {
    const d = await dir();
    await writeFile(join(d, 'trust.json'), '{"schema":1,"minKeySerial":-1}');
    await expect(new KeyFloor(d, silentLogger).load()).rejects.toThrow(/trust.json is invalid/);
  });
});
