// Kafka record-batch compression beyond kafkajs' built-in GZIP. kafkajs looks codecs up in one process-wide map
// (CompressionCodecs) on both produce and fetch, so every process that produces *or consumes* must register the
// same set: importing @tma/kafka does it, which is why the agent and the aggregator decode whatever the other sends.
import { promisify } from 'node:util';
import * as zlib from 'node:zlib';
import { CompressionCodecs, CompressionTypes } from 'kafkajs';

// snappyjs (pure JS, no types): only its two calls on Buffers are used.
// eslint-disable-next-line @typescript-eslint/no-require-imports
const snappy = require('snappyjs') as { compress(data: Buffer): Buffer; uncompress(data: Buffer): Buffer };

export const COMPRESSION_CODECS = ['none', 'gzip', 'snappy', 'zstd'] as const;
export type CompressionCodec = (typeof COMPRESSION_CODECS)[number];

/**
 * The producers' default. On agent snapshots (docs/edge-agent.md, bench/kafka/codecs.js) gzip at its default
 * level stayed the smallest: zstd level 3 was 1.5-3 % larger for 4-6x less compression CPU, snappy ~40 % larger.
 * Sketch cells are high-entropy counters, so every codec lands near the same size.
 */
export const DEFAULT_COMPRESSION: CompressionCodec = 'gzip';

/** zstd level used by producers (1..19; 3 is zstd's own default). Consumers accept any level. */
export const ZSTD_LEVEL = 3;

/** Node has zstd in zlib from 22.15 (experimental API there; the format is zstd's stable frame format). */
export function zstdAvailable(): boolean {
  return typeof zlib.zstdCompress === 'function' && typeof zlib.zstdDecompress === 'function';
}

export function compressionType(codec: CompressionCodec): CompressionTypes {
  switch (codec) {
    case 'none':
      return CompressionTypes.None;
    case 'gzip':
      return CompressionTypes.GZIP;
    case 'snappy':
      return CompressionTypes.Snappy;
    case 'zstd':
      if (!zstdAvailable()) throw new Error(`zstd needs Node 22.15 or later (this is ${process.version})`);
      return CompressionTypes.ZSTD;
  }
}

// ---- zstd (node:zlib) ----

export async function zstdCompress(data: Buffer, level = ZSTD_LEVEL): Promise<Buffer> {
  return promisify(zlib.zstdCompress)(data, { params: { [zlib.constants.ZSTD_c_compressionLevel]: level } });
}

export async function zstdDecompress(data: Buffer): Promise<Buffer> {
  return promisify(zlib.zstdDecompress)(data);
}

// ---- snappy (snappyjs, pure JS) ----
// Kafka's Java client writes snappy in xerial's stream framing: an 8-byte magic, two big-endian int32 versions, then
// blocks of <int32 BE compressed length><raw snappy block>, each block at most 32 KiB uncompressed. Other clients
// (librdkafka, kafkajs-snappy) read and write the same framing and also accept one bare snappy block.
const XERIAL_MAGIC = Buffer.from([0x82, 0x53, 0x4e, 0x41, 0x50, 0x50, 0x59, 0x00]);
const XERIAL_HEADER_LEN = XERIAL_MAGIC.length + 8;
const XERIAL_BLOCK = 32 * 1024;

export function snappyCompress(data: Buffer): Buffer {
  const parts: Buffer[] = [Buffer.alloc(XERIAL_HEADER_LEN)];
  XERIAL_MAGIC.copy(parts[0]);
  parts[0].writeInt32BE(1, 8); // version
  parts[0].writeInt32BE(1, 12); // oldest compatible version
  for (let off = 0; off < data.length; off += XERIAL_BLOCK) {
    const block = snappy.compress(data.subarray(off, off + XERIAL_BLOCK));
    const len = Buffer.alloc(4);
    len.writeInt32BE(block.length);
    parts.push(len, block);
  }
  return Buffer.concat(parts);
}

export function snappyDecompress(data: Buffer): Buffer {
  if (data.length < XERIAL_HEADER_LEN || !data.subarray(0, XERIAL_MAGIC.length).equals(XERIAL_MAGIC)) {
    return snappy.uncompress(data);
  }
  const out: Buffer[] = [];
  let off = XERIAL_HEADER_LEN;
  while (off < data.length) {
    if (off + 4 > data.length) throw new Error('snappy: truncated block length');
    const len = data.readInt32BE(off);
    off += 4;
    if (len < 0 || off + len > data.length) throw new Error(`snappy: block of ${len} bytes overruns the message`);
    out.push(snappy.uncompress(data.subarray(off, off + len)));
    off += len;
  }
  return Buffer.concat(out);
}

// ---- registration ----

interface Encoder {
  buffer: Buffer;
}
interface Codec {
  compress(encoder: Encoder): Promise<Buffer>;
  decompress(buffer: Buffer): Promise<Buffer>;
}

const zstdCodec: Codec = {
  compress: (encoder) => zstdCompress(encoder.buffer),
  decompress: (buffer) => zstdDecompress(buffer),
};

const snappyCodec: Codec = {
  compress: async (encoder) => snappyCompress(encoder.buffer),
  decompress: async (buffer) => snappyDecompress(buffer),
};

/**
 * Puts zstd and snappy into kafkajs' codec map (idempotent). LZ4 stays unregistered: no maintained pure-JS LZ4
 * frame implementation exists, and a batch in a codec we cannot read fails loudly in kafkajs rather than silently.
 */
export function registerCompressionCodecs(): void {
  const codecs = CompressionCodecs as Record<number, () => Codec>;
  if (zstdAvailable()) codecs[CompressionTypes.ZSTD] = () => zstdCodec;
  codecs[CompressionTypes.Snappy] = () => snappyCodec;
}

registerCompressionCodecs();
