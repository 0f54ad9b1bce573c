// Publishing simulated rounds to Kafka the way edge agents do: key = host id (so a host's snapshots stay in order
// on one partition), acks from all in-sync replicas, idempotent producer.
import type { Producer } from 'kafkajs';
import type { FleetSimulator, SimMessage } from './fleet';

export interface PublishOptions {
  /** Rounds (intervals) to publish. */
  rounds: number;
  /** Wall-clock pause between rounds (0 = as fast as the broker takes them). */
  paceMs?: number;
  /** Messages per produce request (default 500). */
  chunk?: number;
  /** Called after each round with the messages sent. */
  onRound?: (round: number, messages: SimMessage[]) => void;
  signal?: AbortSignal;
}

export async function sendMessages(
  producer: Producer,
  topic: string,
  messages: readonly SimMessage[],
  chunk = 500,
): Promise<void> {
  for (let i = 0; i < messages.length; i += chunk) {
    await producer.send({
      topic,
      acks: -1,
      messages: messages.slice(i, i + chunk).map((m) => ({ key: m.key, value: m.value })),
    });
  }
}

/** Publishes `rounds` intervals of every host; returns the number of messages sent. */
export async function publishRounds(
  producer: Producer,
  topic: string,
  sim: FleetSimulator,
  options: PublishOptions,
): Promise<number> {
  let sent = 0;
  for (let r = 0; r < options.rounds; r++) {
    if (options.signal?.aborted) break;
    const started = Date.now();
    const messages = sim.nextRound();
    await sendMessages(producer, topic, messages, options.chunk);
    sent += messages.length;
    options.onRound?.(r, messages);
    const wait = (options.paceMs ?? 0) - (Date.now() - started);
    if (wait > 0 && r + 1 < options.rounds) await new Promise((res) => setTimeout(res, wait));
  }
  return sent;
}
