/**
 * Finds tensors of an ONNX model that keep their data in external files (`data_location =
 * EXTERNAL` or `external_data` entries). The agent is only ever given the one .onnx file, and an
 * external-data path could point anywhere on the device, so such a model is refused before any
 * runtime opens it.
 *
 * A minimal protobuf walk, not a full parser: only the messages that can hold a tensor are entered
 * (field numbers from onnx/onnx.proto), each with an explicit work list instead of recursion, so a
 * hostile file cannot blow the stack; nesting (subgraphs of If/Loop, functions) is capped and
 * every byte is visited at most once per message that contains it at top level.
 */

const WIRE_VARINT = 0;
const WIRE_FIXED64 = 1;
const WIRE_LEN = 2;
const WIRE_FIXED32 = 5;

/** TensorProto.DataLocation.EXTERNAL */
const EXTERNAL = 1;
/** Deeper than any real model nests subgraphs; deeper is refused rather than skipped. */
export const MAX_NESTING = 32;

type Kind = 'model' | 'function' | 'graph' | 'node' | 'attribute' | 'sparse' | 'tensor';

/** Per message kind: field number → kind of the (length-delimited) sub-message to enter. */
const CHILDREN: Record<Exclude<Kind, 'tensor'>, ReadonlyMap<number, Kind>> = {
  // ModelProto.graph = 7, ModelProto.functions = 25
  model: new Map<number, Kind>([
    [7, 'graph'],
    [25, 'function'],
  ]),
  // FunctionProto.node = 7
  function: new Map<number, Kind>([[7, 'node']]),
  // GraphProto.node = 1, initializer = 5, sparse_initializer = 15
  graph: new Map<number, Kind>([
    [1, 'node'],
    [5, 'tensor'],
    [15, 'sparse'],
  ]),
  // NodeProto.attribute = 5
  node: new Map<number, Kind>([[5, 'attribute']]),
  // AttributeProto.t = 5, g = 6, tensors = 10, graphs = 11, sparse_tensor = 22, sparse_tensors = 23
  attribute: new Map<number, Kind>([
    [5, 'tensor'],
    [6, 'graph'],
    [10, 'tensor'],
    [11, 'graph'],
    [22, 'sparse'],
    [23, 'sparse'],
  ]),
  // SparseTensorProto.values = 1, indices = 2
  sparse: new Map<number, Kind>([
    [1, 'tensor'],
    [2, 'tensor'],
  ]),
};

export interface ExternalTensor {
  /** TensorProto.name ('' when unnamed), at most 200 characters. */
  name: string;
  /** The first `location` entry of external_data, if any. */
  location: string | null;
}

export class OnnxScanError extends Error {
  override readonly name = 'OnnxScanError';
}

/** The first tensor that references external data, or null when every tensor is held in the file. */
export function findExternalData(bytes: Uint8Array): ExternalTensor | null {
  const work: Array<{ kind: Kind; start: number; end: number; depth: number }> = [{ kind: 'model', start: 0, end: bytes.length, depth: 0 }];
  for (let item = work.pop(); item !== undefined; item = work.pop()) {
    if (item.kind === 'tensor') {
      const found = scanTensor(bytes, item.start, item.end);
      if (found !== null) return found;
      continue;
    }
    if (item.depth > MAX_NESTING) throw new OnnxScanError(`model nests deeper than ${MAX_NESTING} levels`);
    const children = CHILDREN[item.kind];
    const r = new Reader(bytes, item.start, item.end);
    while (r.more()) {
      const { field, wire } = r.tag();
      const kind = children.get(field);
      if (kind !== undefined && wire === WIRE_LEN) {
        const [start, end] = r.span();
        work.push({ kind, start, end, depth: item.depth + 1 });
      } else r.skip(wire);
    }
  }
  return null;
}

function scanTensor(bytes: Uint8Array, start: number, end: number): ExternalTensor | null {
  const r = new Reader(bytes, start, end);
  let name = '';
  let external = false;
  let location: string | null = null;
  while (r.more()) {
    const { field, wire } = r.tag();
    if (field === 8 && wire === WIRE_LEN)
      name = r.text(200); // name
    else if (field === 14 && wire === WIRE_VARINT)
      external = r.varint() === EXTERNAL; // data_location
    else if (field === 13 && wire === WIRE_LEN) {
      // external_data: StringStringEntryProto { key = 1; value = 2 }
      external = true;
      const [s, e] = r.span();
      location ??= entryLocation(bytes, s, e);
    } else r.skip(wire);
  }
  return external ? { name, location } : null;
}

function entryLocation(bytes: Uint8Array, start: number, end: number): string | null {
  const r = new Reader(bytes, start, end);
  let key = '';
  let value = '';
  while (r.more()) {
    const { field, wire } = r.tag();
    if (field === 1 && wire === WIRE_LEN) key = r.text(200);
    else if (field === 2 && wire === WIRE_LEN) value = r.text(200);
    else r.skip(wire);
  }
  return key === 'location' ? value : null;
}

const decoder = new TextDecoder('utf-8', { fatal: false });

class Reader {
  constructor(
    private readonly buf: Uint8Array,
    private pos: number,
    private readonly end: number,
  ) {}

  more(): boolean {
    return this.pos < this.end;
  }

  /** A varint as a number; values past 2^53 lose precision, which no field read here cares about. */
  varint(): number {
    let result = 0;
    let scale = 1;
    for (let i = 0; i < 10; i++) {
      if (this.pos >= this.end) throw new OnnxScanError('truncated varint');
      const byte = this.buf[this.pos++] ?? 0;
      result += (byte & 0x7f) * scale;
      if ((byte & 0x80) === 0) return result;
      scale *= 128;
    }
    throw new OnnxScanError('varint longer than 10 bytes');
  }

  tag(): { field: number; wire: number } {
    const key = this.varint();
    const field = Math.floor(key / 8);
    if (field < 1) throw new OnnxScanError('invalid field number 0');
    return { field, wire: key % 8 };
  }

  /** The [start, end) of a length-delimited payload, which is then stepped over. */
  span(): [number, number] {
    const len = this.varint();
    const start = this.pos;
    if (len > this.end - start) throw new OnnxScanError('length-delimited field overruns its message');
    this.pos = start + len;
    return [start, this.pos];
  }

  text(max: number): string {
    const [s, e] = this.span();
    return decoder.decode(this.buf.subarray(s, Math.min(e, s + max * 4))).slice(0, max);
  }

  skip(wire: number): void {
    switch (wire) {
      case WIRE_VARINT:
        this.varint();
        return;
      case WIRE_FIXED64:
        return this.advance(8);
      case WIRE_LEN:
        this.span();
        return;
      case WIRE_FIXED32:
        return this.advance(4);
      default:
        throw new OnnxScanError(`unsupported protobuf wire type ${wire}`);
    }
  }

  private advance(n: number): void {
    if (n > this.end - this.pos) throw new OnnxScanError('fixed-width field overruns its message');
    this.pos += n;
  }
}
