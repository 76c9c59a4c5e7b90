import type { Socket } from 'node:net';

/** Largest packet a connection may send before its CONNECT is authenticated: room for a CONNECT with a Last Will, no more. */
export const PRE_AUTH_MAX_PACKET_BYTES = 8 * 1024;
/** Bytes a connection may send in all before it is authenticated (a CONNECT and what a client pipelines behind it). */
export const PRE_AUTH_MAX_TOTAL_BYTES = 4 * PRE_AUTH_MAX_PACKET_BYTES;

/**
 * Follows the MQTT fixed headers in a connection's byte stream and refuses a packet whose declared
 * remaining length is above the limit as soon as the length bytes say so, before its body is
 * buffered. mqtt-packet's parser (inside aedes) has no maximum: it keeps appending to a buffer list
 * until the declared length has arrived, so one CONNECT declaring 268 MB held that much memory.
 */
export class PacketSizeGuard {
  private limit: number;
  private authenticated = false;
  private seenBeforeAuth = 0;
  private state: 'type' | 'length' | 'body' = 'type';
  private length = 0;
  private multiplier = 1;
  private lengthBytes = 0;
  private bodyLeft = 0;

  constructor(private readonly maxPacketBytes: number) {
    this.limit = Math.min(PRE_AUTH_MAX_PACKET_BYTES, maxPacketBytes);
  }

  /** The connection proved its identity: from now on its packets may be as large as the configured maximum. */
  authenticate(): void {
    this.authenticated = true;
    this.limit = this.maxPacketBytes;
  }

  /** Feeds the next bytes of the stream; returns why the connection must be closed, or null. */
  inspect(chunk: Buffer): string | null {
    if (!this.authenticated) {
      this.seenBeforeAuth += chunk.length;
      if (this.seenBeforeAuth > PRE_AUTH_MAX_TOTAL_BYTES) return `more than ${PRE_AUTH_MAX_TOTAL_BYTES} bytes before authentication`;
    }
    let i = 0;
    while (i < chunk.length) {
      if (this.state === 'body') {
        const n = Math.min(this.bodyLeft, chunk.length - i);
        this.bodyLeft -= n;
        i += n;
        if (this.bodyLeft === 0) this.state = 'type';
      } else if (this.state === 'type') {
        i++;
        this.state = 'length';
        this.length = 0;
        this.multiplier = 1;
        this.lengthBytes = 0;
      } else {
        const reason = this.lengthByte(chunk[i] ?? 0);
        i++;
        if (reason !== null) return reason;
      }
    }
    return null;
  }

  /** One byte of the remaining-length varint (1 to 4 bytes, 7 bits each, low first). */
  private lengthByte(b: number): string | null {
    this.length += (b & 0x7f) * this.multiplier;
    this.multiplier *= 128;
    this.lengthBytes++;
    // every further byte only adds: a partial length above the limit already decides
    if (this.length > this.limit) {
      const phase = this.authenticated ? '' : ' before authentication';
      return `packet declares ${this.lengthBytes < 4 && b & 0x80 ? 'at least ' : ''}${this.length} bytes, limit ${this.limit}${phase}`;
    }
    if (b & 0x80) return this.lengthBytes === 4 ? 'malformed remaining length' : null;
    this.bodyLeft = this.length;
    this.state = this.length === 0 ? 'type' : 'body';
    return null;
  }
}

/**
 * Puts the guard between the socket and aedes, which pulls bytes with `socket.read()` on
 * 'readable': each chunk is inspected as aedes takes it, and a violation destroys the socket
 * instead of handing the chunk over. Wrapping `read` keeps the socket itself in aedes' hands (no
 * extra stream, no copy, backpressure unchanged).
 */
export function guardSocket(socket: Socket, guard: PacketSizeGuard, onViolation: (reason: string) => void): void {
  const read = socket.read.bind(socket);
  socket.read = (size?: number): Buffer | null => {
    const chunk = read(size) as Buffer | null;
    if (chunk === null || socket.destroyed) return null;
    const violation = guard.inspect(chunk);
    if (violation === null) return chunk;
    onViolation(violation);
    socket.destroy();
    return null;
  };
}
