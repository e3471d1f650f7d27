/** The few TL binary primitives mtcute's session layouts use (little-endian, 4-byte padded bytes). */

export class TlReader {
  private readonly view: DataView;
  pos: number;

  constructor(readonly bytes: Uint8Array, pos = 0) {
    this.view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
    this.pos = pos;
  }

  private need(n: number): void {
    if (this.pos + n > this.bytes.length) throw new RangeError('unexpected end of data');
  }

  uint8(): number {
    this.need(1);
    return this.bytes[this.pos++]!;
  }

  int32(): number {
    this.need(4);
    const v = this.view.getInt32(this.pos, true);
    this.pos += 4;
    return v;
  }

  uint32(): number {
    this.need(4);
    const v = this.view.getUint32(this.pos, true);
    this.pos += 4;
    return v;
  }

  /** mtcute's int53: a little-endian int64 holding a safe integer. */
  int53(): bigint {
    this.need(8);
    const v = this.view.getBigInt64(this.pos, true);
    this.pos += 8;
    return v;
  }

  boolean(): boolean {
    const v = this.uint32();
    if (v === BOOL_TRUE) return true;
    if (v === BOOL_FALSE) return false;
    throw new RangeError('not a TL boolean');
  }

  tlBytes(): Uint8Array {
    this.need(1);
    let length = this.bytes[this.pos]!;
    let header = 1;
    if (length === 254) {
      this.need(4);
      length = this.bytes[this.pos + 1]! | (this.bytes[this.pos + 2]! << 8) | (this.bytes[this.pos + 3]! << 16);
      header = 4;
    } else if (length === 255) throw new RangeError('bad TL bytes length');
    const padded = Math.ceil((header + length) / 4) * 4;
    this.need(padded);
    const out = this.bytes.slice(this.pos + header, this.pos + header + length);
    this.pos += padded;
    return out;
  }

  string(): string {
    return new TextDecoder('utf-8', { fatal: true }).decode(this.tlBytes());
  }

  get done(): boolean {
    return this.pos === this.bytes.length;
  }
}

export const BOOL_TRUE = 0x997275b5;
export const BOOL_FALSE = 0xbc799737;

export class TlWriter {
  private chunks: number[] = [];

  raw(bytes: Uint8Array | readonly number[]): this {
    for (const b of bytes) this.chunks.push(b);
    return this;
  }

  int32(v: number): this {
    const b = new Uint8Array(4);
    new DataView(b.buffer).setInt32(0, v, true);
    return this.raw(b);
  }

  uint32(v: number): this {
    const b = new Uint8Array(4);
    new DataView(b.buffer).setUint32(0, v, true);
    return this.raw(b);
  }

  int53(v: bigint): this {
    const b = new Uint8Array(8);
    new DataView(b.buffer).setBigInt64(0, v, true);
    return this.raw(b);
  }

  boolean(v: boolean): this {
    return this.uint32(v ? BOOL_TRUE : BOOL_FALSE);
  }

  tlBytes(data: Uint8Array): this {
    const header = data.length <= 253 ? [data.length] : [254, data.length & 0xff, (data.length >> 8) & 0xff, (data.length >> 16) & 0xff];
    this.raw(header).raw(data);
    const total = header.length + data.length;
    for (let i = total; i % 4 !== 0; i++) this.chunks.push(0);
    return this;
  }

  string(text: string): this {
    return this.tlBytes(new TextEncoder().encode(text));
  }

  result(): Uint8Array {
    return new Uint8Array(this.chunks);
  }
}
