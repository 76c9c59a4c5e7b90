/** The time a boot of a device has covered with its windows so far. */
interface BootSpan {
  bootId: string;
  start: number;
  end: number;
}

/** Boots remembered per device (a reboot adds one; the oldest is forgotten). */
const BOOTS_PER_DEVICE = 4;
/** Devices remembered at most; past it, the memory starts over (a detection then needs a few windows more). */
const MAX_DEVICES = 100_000;
/** Overlap tolerated between two boots' windows: a clock stepped back a little at boot is not a clone. */
const TOLERANCE_MS = 1_000;

/**
 * Interleaved boots of one device (RELIABILITY row 13). One device runs one boot at a time, so the
 * windows of two of its boots never overlap in time: a reboot's windows start after the last window
 * of the boot before, and a backlog drained after a reboot lies before it. Windows of a second boot
 * inside the span the first has covered mean two live agents with one identity, a clone. The boot
 * seen first keeps its place; the other's overlapping windows are refused (a dead letter naming
 * both boots) rather than stored beside the real ones. Each replica remembers what it has seen: with
 * several, each sees its share of a device's windows, enough to catch a clone that keeps sending.
 */
export class BootInterleave {
  private readonly devices = new Map<string, BootSpan[]>();

  /** Records the window and returns null, or returns the boot it interleaves with (and records nothing). */
  check(deviceId: string, bootId: string, windowStart: number, windowEnd: number): string | null {
    let spans = this.devices.get(deviceId);
    if (!spans) {
      if (this.devices.size >= MAX_DEVICES) this.devices.clear();
      spans = [];
      this.devices.set(deviceId, spans);
    }
    let own: BootSpan | undefined;
    for (const s of spans) {
      if (s.bootId === bootId) own = s;
      else if (windowStart < s.end - TOLERANCE_MS && windowEnd > s.start + TOLERANCE_MS) return s.bootId;
    }
    if (own) {
      own.start = Math.min(own.start, windowStart);
      own.end = Math.max(own.end, windowEnd);
      return null;
    }
    spans.push({ bootId, start: windowStart, end: windowEnd });
    if (spans.length > BOOTS_PER_DEVICE) spans.splice(0, spans.length - BOOTS_PER_DEVICE);
    return null;
  }
}
