// @tma/schema: the Avro wire contract between edge agents and the aggregator.
export * from './generated/schemas.generated';
export * from './errors';
export {
  DEFAULT_MAX_MESSAGE_BYTES,
  HEADER_BYTES,
  MAGIC,
  currentSnapshotType,
  decode,
  encode,
  knownSnapshotSchemas,
  earlierSnapshotForms,
  type DecodeOptions,
  type DecodedSnapshot,
  type KnownSchema,
} from './codec';
export { LONG_MAX } from './bounded-walk';
export { parsingCanonicalForm, rabin64, schemaFingerprint } from './fingerprint';
export { DEFAULT_TOPIC_PREFIX, deadLetterTopic, snapshotTopic, snapshotTopics } from './snapshot-topics';
export * from './mitigation';
export { NO_SYN_FLAGS } from './syn-flags';
export * from './alerts';
