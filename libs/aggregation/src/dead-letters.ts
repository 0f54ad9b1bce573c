// Rejected messages go to the dead-letter topic with their reason in headers (libs/schema's deadLetterHeaders), cut
// to a size the broker always accepts, and durably (acks=all) before any commit can pass their offsets.
import type { IHeaders, Producer } from 'kafkajs';
import { deadLetterHeaders } from '@tma/schema';
import type { RejectedSnapshot } from './validate';

export type DeadLetter = { key: Buffer | null; value: Buffer | null; headers: IHeaders };

/** One produce request stays well under the broker's default 1 MiB message.max.bytes. */
const DLQ_REQUEST_BYTES = 512 * 1024;
/** A rejected message larger than this keeps only its first bytes (the header says how large it was). */
export const DLQ_VALUE_BYTES = 256 * 1024;

/** Dead letter for a rejected message; an oversized value is cut so the DLQ write itself can never be refused. */
export function deadLetter(key: Buffer | null, value: Buffer | null, headers: IHeaders): DeadLetter {
  if (value && value.length > DLQ_VALUE_BYTES) {
    return {
      key,
      value: value.subarray(0, DLQ_VALUE_BYTES),
      headers: { ...headers, 'tma-dlq-truncated-from': String(value.length) },
    };
  }
  return { key, value, headers };
}

/** Headers of a snapshot the aggregator refused at `source` (topic/partition/offset). */
export function rejectionHeaders(rejection: RejectedSnapshot, source: string): IHeaders {
  return { ...deadLetterHeaders(rejection), 'tma-dlq-source': source };
}

/** Groups dead letters into produce requests of at most `budget` bytes of keys and values (at least one each). */
export function chunkBySize(letters: DeadLetter[], budget: number): DeadLetter[][] {
  const chunks: DeadLetter[][] = [];
  let current: DeadLetter[] = [];
  let size = 0;
  for (const l of letters) {
    const n = (l.key?.length ?? 0) + (l.value?.length ?? 0) + 256;
    if (current.length > 0 && size + n > budget) {
      chunks.push(current);
      current = [];
      size = 0;
    }
    current.push(l);
    size += n;
  }
  if (current.length > 0) chunks.push(current);
  return chunks;
}

/** Produces the letters with acks=all: they are durable before the caller may commit past their offsets. */
export async function sendDeadLetters(producer: Producer, topic: string, letters: DeadLetter[]): Promise<void> {
  for (const messages of chunkBySize(letters, DLQ_REQUEST_BYTES)) await producer.send({ topic, acks: -1, messages });
}
