// Typed failures of the wire contract. Every decode failure is a SchemaError whose `reason` is a stable,
// machine-readable code: consumers put it in a dead-letter header and count it in metrics.

export type SchemaErrorReason =
  'bad-magic' | 'truncated' | 'unknown-schema' | 'trailing-bytes' | 'invalid-body' | 'too-large' | 'invalid-snapshot';

export abstract class SchemaError extends Error {
  abstract readonly reason: SchemaErrorReason;

  constructor(message: string) {
    super(message);
    this.name = new.target.name;
  }
}

/** The base class of the errors of one reason. */
function withReason<R extends SchemaErrorReason>(reason: R) {
  return class extends SchemaError {
    readonly reason = reason;
  };
}

/** The message does not start with the single-object marker 0xC3 0x01: not a TMA snapshot (or not this framing). */
export class BadMagicError extends withReason('bad-magic') {}

/** The message ends before the header or a value does, or a declared length or count runs past its end. */
export class TruncatedMessageError extends withReason('truncated') {}

/** The writer schema's fingerprint is not one of the SketchSnapshot versions this build knows. */
export class UnknownSchemaError extends withReason('unknown-schema') {
  constructor(readonly fingerprint: string) {
    super(`unknown writer schema fingerprint ${fingerprint} (CRC-64-AVRO); known: see knownSnapshotSchemas()`);
  }
}

/** Bytes remain after a complete snapshot. */
export class TrailingBytesError extends withReason('trailing-bytes') {
  constructor(readonly extraBytes: number) {
    super(`${extraBytes} trailing byte(s) after the snapshot`);
  }
}

/** The body does not encode a valid value of the writer schema (bad enum or union index, bad UTF-8, out-of-range number…). */
export class InvalidBodyError extends withReason('invalid-body') {}

/** The message exceeds the decoder's size limit. */
export class MessageTooLargeError extends withReason('too-large') {}

/** encode() was given a value that does not match the current schema. */
export class InvalidSnapshotError extends withReason('invalid-snapshot') {
  constructor(readonly paths: string[]) {
    super(`snapshot does not match the schema at: ${paths.join(', ')}`);
  }
}

export function isSchemaError(err: unknown): err is SchemaError {
  return err instanceof SchemaError;
}

/** Kafka header names for messages sent to the dead-letter topic. */
export const DLQ_REASON_HEADER = 'tma-dlq-reason';
export const DLQ_MESSAGE_HEADER = 'tma-dlq-message';

/** Whether an error names why its message was refused (SchemaError, the aggregator's rejections, ...). */
function reasonOf(err: unknown): string | undefined {
  const reason = err instanceof Error ? (err as { reason?: unknown }).reason : undefined;
  return typeof reason === 'string' && reason !== '' ? reason : undefined;
}

/**
 * Headers to attach to a message moved to the dead-letter topic: the error's own `reason` (a SchemaError's, or any
 * other refusal that carries one); failures without a reason report `internal`.
 */
export function deadLetterHeaders(err: unknown): Record<string, string> {
  const reason = reasonOf(err) ?? 'internal';
  const message = err instanceof Error ? err.message : String(err);
  return { [DLQ_REASON_HEADER]: reason, [DLQ_MESSAGE_HEADER]: message.slice(0, 1024) };
}
