// SketchSnapshot framing: Avro single-object encoding.
//
//   byte 0    1    2 ............................ 9   10 .............................. end
//       +----+----+--------------------------------+-------------------------------------+
//       |0xC3|0x01| CRC-64-AVRO of the writer      | Avro binary body (writer schema)    |
//       |    |    | schema's canonical form, LE    |                                     |
//       +----+----+--------------------------------+-------------------------------------+
//
// The decoder knows every schema version in libs/schema/avro (keyed by fingerprint) and resolves older writers to
// the current reader schema, so consumers always get the current SketchSnapshot shape.
import * as avro from 'avsc';
import { compileBoundedWalk } from './bounded-walk';
import { compileFastReader, type CompiledReader } from './fast-reader';
import {
  BadMagicError,
  InvalidBodyError,
  InvalidSnapshotError,
  MessageTooLargeError,
  SchemaError,
  TrailingBytesError,
  TruncatedMessageError,
  UnknownSchemaError,
} from './errors';
import { parsingCanonicalForm, schemaFingerprint } from './fingerprint';
import { CURRENT_SNAPSHOT_VERSION, SNAPSHOT_SCHEMAS, type SketchSnapshot } from './generated/schemas.generated';

export const MAGIC = Buffer.from([0xc3, 0x01]);
export const HEADER_BYTES = MAGIC.length + 8;
/** Default decode limit: far above a busy host's snapshot (≤ 256 KiB), far below what would hurt a consumer. */
export const DEFAULT_MAX_MESSAGE_BYTES = 16 * 1024 * 1024;

export interface KnownSchema {
  version: number;
  /** An earlier revision of the version (fields with defaults appended since); absent on the current file. */
  revision?: number;
  file: string;
  /** CRC-64-AVRO fingerprint as 16 hex digits of its little-endian wire bytes. */
  fingerprint: string;
  canonicalForm: string;
}

interface Entry extends KnownSchema {
  writer: avro.Type;
  walk: (buf: Buffer, start: number) => number;
  /** Reads this writer's bodies as the current schema (absent for the current version itself). */
  resolver?: avro.Resolver;
  /** Single-pass checked reader (current version only). */
  fast?: CompiledReader;
}

const current = avro.Type.forSchema(
  SNAPSHOT_SCHEMAS.find((s) => s.version === CURRENT_SNAPSHOT_VERSION && !s.revision)!.schema as avro.Schema,
);

const registry = new Map<string, Entry>();
for (const s of SNAPSHOT_SCHEMAS) {
  const isCurrent = s.version === CURRENT_SNAPSHOT_VERSION && !s.revision;
  const writer = isCurrent ? current : avro.Type.forSchema(s.schema as avro.Schema);
  const fingerprint = schemaFingerprint(s.schema).toString('hex');
  if (registry.has(fingerprint)) throw new Error(`${s.file} has the same canonical form as an earlier version`);
  registry.set(fingerprint, {
    version: s.version,
    ...(s.revision ? { revision: s.revision } : {}),
    file: s.file,
    fingerprint,
    canonicalForm: parsingCanonicalForm(s.schema),
    writer,
    walk: compileBoundedWalk(writer),
    // createResolver throws here, at load, if an old version cannot be read by the current one.
    resolver: writer === current ? undefined : current.createResolver(writer),
    fast: writer === current ? compileFastReader(current) : undefined,
  });
}
const currentEntry = [...registry.values()].find((e) => e.writer === current)!;
const currentHeader = Buffer.concat([MAGIC, Buffer.from(currentEntry.fingerprint, 'hex')]);

/** Every schema version this build can decode, oldest first. */
export function knownSnapshotSchemas(): KnownSchema[] {
  return [...registry.values()]
    .sort((a, b) => a.version - b.version || (a.revision ?? Infinity) - (b.revision ?? Infinity))
    .map(({ version, revision, file, fingerprint, canonicalForm }) => ({
      version,
      ...(revision ? { revision } : {}),
      file,
      fingerprint,
      canonicalForm,
    }));
}

/** The avsc type of the current schema (for tools that need Avro JSON or schema introspection). */
export function currentSnapshotType(): avro.Type {
  return current;
}

/** Encodes a snapshot with the current schema, framed as an Avro single object. Throws InvalidSnapshotError. */
export function encode(snapshot: SketchSnapshot): Buffer {
  const paths: string[] = [];
  if (!current.isValid(snapshot, { errorHook: (path) => paths.push(path.join('.') || '(root)') })) {
    throw new InvalidSnapshotError(paths);
  }
  const body = current.toBuffer(snapshot);
  return Buffer.concat([currentHeader, body], currentHeader.length + body.length);
}

export interface DecodedSnapshot {
  /** Version of the schema the producer wrote with. */
  schemaVersion: number;
  /** Writer schema fingerprint (hex of the wire bytes). */
  fingerprint: string;
  /** The snapshot in the current schema's shape. */
  snapshot: SketchSnapshot;
}

export interface DecodeOptions {
  /** Refuse larger messages (default DEFAULT_MAX_MESSAGE_BYTES). */
  maxBytes?: number;
  /**
   * Copy bytes and fixed fields (sketch blobs, flow keys) out of the message. By default they are views into the
   * message buffer (no copy: decoding a busy host's snapshot is dominated by allocating them otherwise); keep the
   * default when the message buffer is not reused, and copy what you retain long after the message.
   */
  copyBytes?: boolean;
}

/** Decodes one framed snapshot. Every failure is a SchemaError subclass with a `reason` code. */
export function decode(message: Uint8Array, options: DecodeOptions = {}): DecodedSnapshot {
  return decodeWith(message, options, true);
}

/**
 * The same contract through the bounded walk and avsc, the path older writer versions take. Not exported from the
 * package: tests compare it with the single-pass reader on every input.
 */
export function decodeViaAvsc(message: Uint8Array, options: DecodeOptions = {}): DecodedSnapshot {
  return decodeWith(message, options, false);
}

function decodeWith(message: Uint8Array, options: DecodeOptions, allowFast: boolean): DecodedSnapshot {
  const buf = Buffer.isBuffer(message) ? message : Buffer.from(message.buffer, message.byteOffset, message.byteLength);
  const maxBytes = options.maxBytes ?? DEFAULT_MAX_MESSAGE_BYTES;
  if (buf.length > maxBytes) throw new MessageTooLargeError(`message of ${buf.length} bytes exceeds ${maxBytes}`);
  if (buf.length === 0 || (buf.length === 1 && buf[0] === MAGIC[0])) {
    throw new TruncatedMessageError(`message of ${buf.length} byte(s) has no header`);
  }
  if (buf[0] !== MAGIC[0] || buf[1] !== MAGIC[1]) {
    throw new BadMagicError(
      `message starts with 0x${buf.subarray(0, 2).toString('hex')}, not the Avro single-object marker 0xc301`,
    );
  }
  if (buf.length < HEADER_BYTES) {
    throw new TruncatedMessageError(`message of ${buf.length} bytes ends inside the header`);
  }
  const fingerprint = buf.toString('hex', MAGIC.length, HEADER_BYTES);
  const entry = registry.get(fingerprint);
  if (!entry) throw new UnknownSchemaError(fingerprint);
  if (allowFast && entry.fast) {
    const { value, end } = entry.fast(buf, HEADER_BYTES, options.copyBytes === true);
    if (end !== buf.length) throw new TrailingBytesError(buf.length - end);
    return { schemaVersion: entry.version, fingerprint, snapshot: value as SketchSnapshot };
  }
  const end = entry.walk(buf, HEADER_BYTES);
  if (end !== buf.length) throw new TrailingBytesError(buf.length - end);
  let snapshot: SketchSnapshot;
  try {
    snapshot = current.fromBuffer(buf.subarray(HEADER_BYTES), entry.resolver) as SketchSnapshot;
  } catch (err) {
    // The walk admits only well-formed bodies; anything avsc still refuses is reported, never rethrown raw.
    if (err instanceof SchemaError) throw err;
    throw new InvalidBodyError(`body rejected by the Avro reader: ${(err as Error).message}`);
  }
  return { schemaVersion: entry.version, fingerprint, snapshot };
}
