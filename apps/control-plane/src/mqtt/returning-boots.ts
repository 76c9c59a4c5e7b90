/** Boots remembered per device, newest last. */
const BOOTS_PER_DEVICE = 4;
/** Devices remembered at most; past it, the memory starts over. */
const MAX_DEVICES = 100_000;
/** Returns of old boots that make a clone: one could be a message delivered late, two are a ping-pong. */
const RETURNS_FOR_CLONE = 2;
/** How long returns are counted together. */
const WINDOW_MS = 10 * 60_000;

interface DeviceBoots {
  /** Distinct boot ids in the order they first came online. */
  boots: string[];
  returns: number;
  since: number;
}

/**
 * Boots that come back (RELIABILITY row 13, from `status` messages). An agent's boot id is new at
 * every start, so once a device has come online with a newer boot, the older one is over: an
 * `online` of it again means a second live agent with the same identity. On a broker that lets
 * clients take each other's sessions over (Mosquitto), two clones announce their boots in turns —
 * A, B, A, B — with no telemetry needed. Only `online` counts: a Last Will (`offline`) of the old
 * boot may well arrive after the new boot's `online` (the broker sends it when the old connection
 * times out). One return may be a late delivery; the second within ten minutes is reported.
 */
export class ReturningBoots {
  private readonly devices = new Map<string, DeviceBoots>();

  /**
   * Records a boot coming online; returns the newer boot it returned after when that makes a
   * clone, else null.
   */
  online(deviceId: string, bootId: string, now = Date.now()): string | null {
    let d = this.devices.get(deviceId);
    if (!d) {
      if (this.devices.size >= MAX_DEVICES) this.devices.clear();
      d = { boots: [], returns: 0, since: now };
      this.devices.set(deviceId, d);
    }
    const latest = d.boots.at(-1);
    if (latest === undefined || latest === bootId) {
      if (latest === undefined) d.boots.push(bootId);
      return null;
    }
    const returning = d.boots.includes(bootId);
    d.boots = [...d.boots.filter((b) => b !== bootId), bootId].slice(-BOOTS_PER_DEVICE);
    if (!returning) return null;
    if (now - d.since > WINDOW_MS) {
      d.returns = 0;
      d.since = now;
    }
    d.returns += 1;
    return d.returns >= RETURNS_FOR_CLONE ? latest : null;
  }
}
