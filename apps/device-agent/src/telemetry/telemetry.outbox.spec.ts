import { mkdtemp, readdir, readFile, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { type TelemetryWindow, TelemetryWindowSchema } from '@edge-fleet/shared';
import { waitFor } from '@edge-fleet/test-utils';
import { describe, expect, it } from 'vitest';
import { silentLogger } from '../core/logger.js';
import { FakeClock } from '../test-support/fake.clock.js';
import { idleWindow } from '../test-support/telemetry.windows.js';
import { DEFAULT_OUTBOX_LIMITS, type OutboxLimits, TelemetryOutbox } from './telemetry.outbox.js';

const DEVICE = '00000000-0000-4000-8000-000000000002';
const BOOT = '00000000-0000-4000-8000-000000000003';
const BLOCK = 4096;

function window(clock: FakeClock, seq: number, bootId = BOOT): TelemetryWindow {
  const end = clock.now();
  return TelemetryWindowSchema.parse(idleWindow(DEVICE, bootId, seq, new Date(end).toISOString(), new Date(end - 1_000).toISOString()));
}

/** A broker stand-in: records sends; while `hold` is set, a send waits until it is released. */
class Link {
  up = false;
  sent: TelemetryWindow[] = [];
  private held: (() => void)[] = [];
  hold = false;

  send = (msg: TelemetryWindow): Promise<void> => {
    this.sent.push(msg);
    if (!this.hold) return Promise.resolve();
    return new Promise((resolve) => this.held.push(resolve));
  };

  release(): void {
    for (const r of this.held.splice(0)) r();
  }
}

async function setup(dir?: string, limits: Partial<OutboxLimits> = {}, clock = new FakeClock()) {
  const d = dir ?? (await mkdtemp(join(tmpdir(), 'outbox-')));
  const link = new Link();
  const drops: number[] = [];
  const outbox = new TelemetryOutbox({
    dir: d,
    limits: { ...DEFAULT_OUTBOX_LIMITS, ...limits },
    clock,
    logger: silentLogger,
    send: link.send,
    canSend: () => link.up,
    onDropped: (n) => drops.push(n),
  });
  await outbox.open();
  return { dir: d, link, outbox, clock, drops };
}

const ids = (ws: TelemetryWindow[]) => ws.map((w) => `${w.bootId.slice(-1)}:${w.seq}`);
const windowFiles = async (dir: string) => (await readdir(dir)).filter((n) => n.startsWith('w-'));

describe('TelemetryOutbox', () => {
  it('row 17: keeps windows on disk while the link is down and drains them oldest first, each removed after its ack', async () => {
    const { dir, link, outbox, clock } = await setup();
    for (let seq = 0; seq < 3; seq++) {
      await outbox.add(window(clock, seq));
      await clock.advance(1_000);
    }
    expect(link.sent).toEqual([]);
    expect(await windowFiles(dir)).toHaveLength(3);

    link.up = true;
    link.hold = true;
    outbox.kick();
    await waitFor(() => link.sent.length === 1 || null, 5_000, 'first send');
    // sent but not acknowledged: still on disk, and no second send overtakes it
    expect(await windowFiles(dir)).toHaveLength(3);
    link.hold = false;
    link.release();
    await outbox.idle();
    expect(link.sent.map((w) => w.seq)).toEqual([0, 1, 2]);
    expect(await windowFiles(dir)).toEqual([]);
  });

  it('row 17: a window keeps its boot id and seq across a restart of the agent', async () => {
    const first = await setup();
    await first.outbox.add(window(first.clock, 7, '00000000-0000-4000-8000-00000000000a'));
    await first.outbox.add(window(first.clock, 8, '00000000-0000-4000-8000-00000000000a'));
    first.outbox.stop();

    const second = await setup(first.dir, {}, first.clock);
    await second.outbox.add(window(second.clock, 0, '00000000-0000-4000-8000-00000000000b'));
    second.link.up = true;
    second.outbox.kick();
    await second.outbox.idle();
    expect(ids(second.link.sent)).toEqual(['a:7', 'a:8', 'b:0']);
  });

  it('row 17: past the size cap drops the oldest windows, never the one awaiting its ack, and keeps the count across restarts', async () => {
    const { dir, link, outbox, clock, drops } = await setup(undefined, { maxBytes: 3 * BLOCK });
    await outbox.add(window(clock, 0));
    link.up = true;
    link.hold = true;
    outbox.kick();
    await waitFor(() => link.sent.length === 1 || null, 5_000, 'first send');
    link.up = false; // the link drops with seq 0 in flight
    for (let seq = 1; seq <= 5; seq++) await outbox.add(window(clock, seq));
    expect(outbox.droppedWindows).toBe(3);
    expect(drops.at(-1)).toBe(3);
    // seq 0 is in flight, so seq 1, 2 and 3 went; seq 4 and 5 are the newest
    expect((await windowFiles(dir)).length).toBe(3);
    link.release(); // its ack arrives after all
    await outbox.idle();
    outbox.stop();

    const again = await setup(dir, { maxBytes: 3 * BLOCK }, clock);
    expect(again.outbox.droppedWindows).toBe(3);
    again.link.up = true;
    again.outbox.kick();
    await again.outbox.idle();
    expect(again.link.sent.map((w) => w.seq)).toEqual([4, 5]);
  });

  it('row 17: drops windows older than the age cap and counts them', async () => {
    const { link, outbox, clock } = await setup(undefined, { maxAgeMs: 60_000 });
    await outbox.add(window(clock, 0));
    await clock.advance(30_000);
    await outbox.add(window(clock, 1));
    await clock.advance(40_000);
    await outbox.add(window(clock, 2));
    expect(outbox.droppedWindows).toBe(1);
    link.up = true;
    outbox.kick();
    await outbox.idle();
    expect(link.sent.map((w) => w.seq)).toEqual([1, 2]);
  });

  it('row 17: a half-written temp file is ignored and an unreadable window is dropped and counted, not fatal', async () => {
    const { dir, outbox, clock } = await setup();
    await outbox.add(window(clock, 0));
    await outbox.add(window(clock, 1));
    outbox.stop();
    const [firstFile] = await windowFiles(dir);
    await writeFile(join(dir, firstFile ?? ''), '{"schema":1,"deviceId":"00000000-00');
    await writeFile(join(dir, '.tmp-interrupted'), '{"schema":1');

    const again = await setup(dir, {}, clock);
    expect(await readdir(dir)).not.toContain('.tmp-interrupted');
    again.link.up = true;
    again.outbox.kick();
    await again.outbox.idle();
    expect(again.link.sent.map((w) => w.seq)).toEqual([1]);
    expect(again.outbox.droppedWindows).toBe(1);
  });

  it('row 17: a drop a kill interrupted after counting is finished at start, not counted twice', async () => {
    const { dir, outbox, clock } = await setup();
    for (let seq = 0; seq < 3; seq++) await outbox.add(window(clock, seq));
    outbox.stop();
    // as if killed after persisting the count of a drop of the two oldest, before deleting their files
    const files = (await windowFiles(dir)).sort();
    const through = Number(/^w-(\d+)-/.exec(files[1] ?? '')?.[1]);
    await writeFile(
      join(dir, 'outbox-state.json'),
      JSON.stringify({ schema: 1, droppedWindows: 2, droppedThrough: through, spared: null }),
    );

    const again = await setup(dir, {}, clock);
    expect(again.outbox.droppedWindows).toBe(2);
    again.link.up = true;
    again.outbox.kick();
    await again.outbox.idle();
    expect(again.link.sent.map((w) => w.seq)).toEqual([2]);
    expect(JSON.parse(await readFile(join(dir, 'outbox-state.json'), 'utf8'))).toMatchObject({ droppedWindows: 2 });
  });
});
