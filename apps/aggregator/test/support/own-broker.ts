// A Kafka broker of a fault case's own (infra/kafka/kafka.sh on a second port and a temporary state directory), so
// killing it does not disturb the run's shared broker. The jars of the shared broker's state are reused when present.
import { execFile } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, symlinkSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { Kafka, logLevel } from 'kafkajs';
import { root } from './processes';

const run = promisify(execFile);

export interface OwnBroker {
  readonly port: number;
  /** For TMA_KAFKA_BROKERS. */
  readonly brokers: string;
  readonly client: Kafka;
  start(): Promise<void>;
  /** SIGKILL the JVM (pid from kafka.sh's pid file) and wait until it is gone. */
  kill9(): Promise<void>;
  /** Stops it (if running) and removes its state. */
  remove(): Promise<void>;
}

/**
 * TMA_FAULT_KAFKA_PORT, or 100 above the shared broker's port, plus `offset` so that cases running in parallel each
 * have their own (the controller takes the port above).
 */
export function ownBrokerPort(offset = 0): number {
  return Number(process.env.TMA_FAULT_KAFKA_PORT ?? Number(process.env.TMA_KAFKA_PORT ?? 9092) + 100) + offset;
}

export function ownBroker(port = ownBrokerPort()): OwnBroker {
  const stateDir = mkdtempSync(join(tmpdir(), 'tma-fault-kafka-'));
  const sharedLibs = join(process.env.TMA_STATE_DIR ?? join(root, '.state'), 'kafka/libs');
  if (existsSync(sharedLibs)) {
    mkdirSync(join(stateDir, 'kafka'), { recursive: true });
    symlinkSync(sharedLibs, join(stateDir, 'kafka/libs'));
  }
  const env = {
    ...process.env,
    TMA_STATE_DIR: stateDir,
    TMA_KAFKA_PORT: String(port),
    TMA_KAFKA_CONTROLLER_PORT: String(port + 1),
    TMA_KAFKA_CDS: '0',
    TMA_KAFKA_STOP_TIMEOUT: '10',
  };
  const script = (cmd: string) => run('bash', [join(root, 'infra/kafka/kafka.sh'), cmd], { cwd: root, env });
  const brokers = `127.0.0.1:${port}`;
  return {
    port,
    brokers,
    client: new Kafka({ clientId: 'tma-fault-test', brokers: [brokers], logLevel: logLevel.NOTHING }),
    async start() {
      await script('start');
    },
    async kill9() {
      const pid = Number(readFileSync(join(stateDir, 'kafka/kafka.pid'), 'utf8').trim());
      process.kill(pid, 'SIGKILL');
      for (;;) {
        try {
          process.kill(pid, 0);
        } catch {
          return;
        }
        await new Promise((r) => setTimeout(r, 50));
      }
    },
    async remove() {
      await script('stop').catch(() => undefined);
      rmSync(stateDir, { recursive: true, force: true });
    },
  };
}
