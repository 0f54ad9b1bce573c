// Minimal reader of classic pcap (both byte orders, micro/nanosecond) and pcapng (SHB, IDB, EPB, SPB and the
// obsolete packet block), yielding every frame in file order with its link type: the order tshark numbers them.
import * as fs from 'node:fs';

export interface Frame {
  linkType: number;
  data: Uint8Array;
}

export const LINKTYPE_ETHERNET = 1;

export function readCapture(file: string): Frame[] {
  const buf = fs.readFileSync(file);
  const magic = buf.readUInt32LE(0);
  if (magic === 0x0a0d0d0a) return readPcapng(buf);
  const le = magic === 0xa1b2c3d4 || magic === 0xa1b23c4d;
  const be = magic === 0xd4c3b2a1 || magic === 0x4d3cb2a1;
  if (!le && !be) throw new Error(`${file}: not a pcap or pcapng file (magic ${magic.toString(16)})`);
  const u32 = (o: number) => (le ? buf.readUInt32LE(o) : buf.readUInt32BE(o));
  const linkType = u32(20) & 0x0fffffff;
  const frames: Frame[] = [];
  for (let o = 24; o + 16 <= buf.length;) {
    const incl = u32(o + 8);
    // a cut-off last record still counts as a frame (as tshark reads it), holding the bytes present
    frames.push({ linkType, data: buf.subarray(o + 16, Math.min(buf.length, o + 16 + incl)) });
    o += 16 + incl;
  }
  return frames;
}

function readPcapng(buf: Buffer): Frame[] {
  const frames: Frame[] = [];
  let le = true;
  let links: number[] = [];
  const u32 = (o: number) => (le ? buf.readUInt32LE(o) : buf.readUInt32BE(o));
  const u16 = (o: number) => (le ? buf.readUInt16LE(o) : buf.readUInt16BE(o));
  for (let o = 0; o + 12 <= buf.length;) {
    if (buf.readUInt32LE(o) === 0x0a0d0d0a) {
      le = buf.readUInt32LE(o + 8) === 0x1a2b3c4d;
      links = []; // interface ids restart with every section
    }
    const type = u32(o);
    const len = u32(o + 4);
    if (len < 12 || o + len > buf.length) break;
    if (type === 1) links.push(u16(o + 8));
    else if (type === 6) {
      const caplen = u32(o + 20);
      frames.push({ linkType: links[u32(o + 8)] ?? -1, data: buf.subarray(o + 28, o + 28 + caplen) });
    } else if (type === 3) {
      const orig = u32(o + 8);
      const caplen = Math.min(orig, len - 16);
      frames.push({ linkType: links[0] ?? -1, data: buf.subarray(o + 12, o + 12 + caplen) });
    } else if (type === 2) {
      const caplen = u32(o + 20);
      frames.push({ linkType: links[u16(o + 8)] ?? -1, data: buf.subarray(o + 28, o + 28 + caplen) });
    }
    o += len;
  }
  return frames;
}
