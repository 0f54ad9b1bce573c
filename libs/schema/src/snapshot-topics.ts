// Kafka topic names carry the schema version the producer writes: `<prefix>.snapshots.v<N>`.
// A new schema version gets a new topic, so a consumer never meets a version it was not built for. Roll-out order:
// consumers first (they subscribe to every topic from v1 to their current version), then producers.
import { CURRENT_SNAPSHOT_VERSION } from './generated/schemas.generated';

export const DEFAULT_TOPIC_PREFIX = 'tma';

// Kafka's legal topic characters; the prefix must leave room for the suffix within 249 characters.
const PREFIX_RE = /^[A-Za-z0-9._-]{1,200}$/;

function check(prefix: string, version: number): void {
  if (!PREFIX_RE.test(prefix)) throw new RangeError(`topic prefix ${JSON.stringify(prefix)} must match ${PREFIX_RE}`);
  if (!Number.isInteger(version) || version < 1 || version > CURRENT_SNAPSHOT_VERSION) {
    throw new RangeError(`snapshot schema version ${version} is not in 1..${CURRENT_SNAPSHOT_VERSION}`);
  }
}

/** Topic producers write snapshots to (current schema version unless given), e.g. `tma.snapshots.v1`. */
export function snapshotTopic(
  prefix: string = DEFAULT_TOPIC_PREFIX,
  version: number = CURRENT_SNAPSHOT_VERSION,
): string {
  check(prefix, version);
  return `${prefix}.snapshots.v${version}`;
}

/** Topics a consumer of the current build reads: one per known schema version, oldest first. */
export function snapshotTopics(prefix: string = DEFAULT_TOPIC_PREFIX): string[] {
  return Array.from({ length: CURRENT_SNAPSHOT_VERSION }, (_, i) => snapshotTopic(prefix, i + 1));
}

/** Dead-letter topic for messages of a snapshot topic that fail to decode, e.g. `tma.snapshots.v1.dlq`. */
export function deadLetterTopic(
  prefix: string = DEFAULT_TOPIC_PREFIX,
  version: number = CURRENT_SNAPSHOT_VERSION,
): string {
  return `${snapshotTopic(prefix, version)}.dlq`;
}
