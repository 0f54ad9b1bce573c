#!/usr/bin/env node
// tma-fleet-sim: publish N virtual hosts' snapshots to Kafka.
//   node tools/fleet-sim/dist/cli.js --hosts 1000 --interval 10s --rounds 6 [--pace] [--seed 1] [--topic-prefix tma]
// --pace sends one round per interval of wall-clock time (like real agents); without it rounds go out back to back
// with event times one interval apart. Kafka settings come from TMA_KAFKA_* (libs/kafka).
import { Kafka, Partitioners, logLevel } from 'kafkajs';
import { parseDuration } from '@tma/config';
import { ensureTopics, loadKafkaSettings } from '@tma/kafka';
import { snapshotTopic } from '@tma/schema';
import { resolveHashSeed, useHashSeed } from '@tma/sketch';
import { FleetSimulator } from './fleet';
import { publishRounds } from './publish';

function parseArgs(argv: string[]): Record<string, string | true> {
  const out: Record<string, string | true> = {};
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    if (!a.startsWith('--')) throw new Error(`unexpected argument ${a}`);
    const next = argv[i + 1];
    if (next === undefined || next.startsWith('--')) out[a.slice(2)] = true;
    else {
      out[a.slice(2)] = next;
      i++;
    }
  }
  return out;
}

async function main(): Promise<void> {
  const args = parseArgs(process.argv.slice(2));
  if (args.help) {
    process.stdout.write(
      'usage: tma-fleet-sim [--hosts N] [--interval 10s] [--rounds N] [--pace] [--seed N] [--partitions N] [--topic-prefix P]\n',
    );
    return;
  }
  // the deployment's seed, as the aggregator has it (else every snapshot is dead-lettered as wrong-seed)
  const seed = resolveHashSeed(process.env);
  for (const w of seed.warnings) process.stderr.write(`tma-fleet-sim: ${w}\n`);
  useHashSeed(seed.seed);
  const intervalMs = parseDuration(String(args.interval ?? '10s'));
  const sim = new FleetSimulator({
    hosts: Number(args.hosts ?? 1000),
    seed: Number(args.seed ?? 1),
    intervalMs,
    truth: false,
  });
  const rounds = Number(args.rounds ?? 6);
  const topic = snapshotTopic(String(args['topic-prefix'] ?? 'tma'));
  const kafka = new Kafka({ ...loadKafkaSettings(process.env, 'tma-fleet-sim'), logLevel: logLevel.WARN });
  const admin = kafka.admin();
  await admin.connect();
  await ensureTopics(admin, [{ topic, numPartitions: Number(args.partitions ?? 6) }]);
  await admin.disconnect();
  const producer = kafka.producer({
    idempotent: true,
    maxInFlightRequests: 1,
    createPartitioner: Partitioners.DefaultPartitioner,
  });
  await producer.connect();
  const abort = new AbortController();
  process.once('SIGINT', () => abort.abort());
  process.once('SIGTERM', () => abort.abort());
  const t0 = Date.now();
  const sent = await publishRounds(producer, topic, sim, {
    rounds,
    paceMs: args.pace ? intervalMs : 0,
    signal: abort.signal,
    onRound: (r, m) => process.stdout.write(`round ${r + 1}/${rounds}: ${m.length} snapshots to ${topic}\n`),
  });
  await producer.disconnect();
  process.stdout.write(`sent ${sent} snapshots in ${((Date.now() - t0) / 1000).toFixed(1)} s\n`);
}

main().catch((err) => {
  process.stderr.write(`tma-fleet-sim: ${(err as Error).message}\n`);
  process.exit(1);
});
