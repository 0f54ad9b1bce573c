import { readFileSync } from 'node:fs';
import type { KafkaConfig, SASLOptions } from 'kafkajs';

/** Raised at start-up when the Kafka settings are unusable; the message names the variable and the fix. */
export class KafkaConfigError extends Error {
  override name = 'KafkaConfigError';
}

export interface KafkaSettings {
  brokers: string[];
  clientId: string;
  ssl?: KafkaConfig['ssl'];
  sasl?: SASLOptions;
}

const SASL_MECHANISMS = ['plain', 'scram-sha-256', 'scram-sha-512'] as const;

function readPem(env: NodeJS.ProcessEnv, name: string): string | undefined {
  const file = env[name];
  if (!file) return undefined;
  try {
    return readFileSync(file, 'utf8');
  } catch (err) {
    throw new KafkaConfigError(`${name}=${file}: cannot read the file (${(err as Error).message})`);
  }
}

/**
 * Kafka settings from the environment, validated once at start-up:
 *   TMA_KAFKA_BROKERS      comma-separated host:port list (default 127.0.0.1:9092, the broker `./tma` starts)
 *   TMA_KAFKA_CLIENT_ID    client id shown in broker logs and quotas (default: the caller's)
 *   TMA_KAFKA_SSL          "true" to use TLS with the system CAs; TMA_KAFKA_SSL_CA / _CERT / _KEY name PEM files
 *   TMA_KAFKA_SASL_MECHANISM plain | scram-sha-256 | scram-sha-512, with TMA_KAFKA_SASL_USERNAME / _PASSWORD
 * Everything is passed through to kafkajs unchanged.
 */
export function loadKafkaSettings(env: NodeJS.ProcessEnv, defaultClientId: string): KafkaSettings {
  const brokers = (env.TMA_KAFKA_BROKERS ?? '127.0.0.1:9092')
    .split(',')
    .map((b) => b.trim())
    .filter(Boolean);
  if (brokers.length === 0) throw new KafkaConfigError('TMA_KAFKA_BROKERS is empty: give at least one host:port');
  for (const b of brokers) {
    const m = /^(\[[0-9a-fA-F:]+\]|[^:\s]+):(\d{1,5})$/.exec(b);
    if (!m || Number(m[2]) < 1 || Number(m[2]) > 65535) {
      throw new KafkaConfigError(`TMA_KAFKA_BROKERS: "${b}" is not host:port (e.g. 127.0.0.1:9092)`);
    }
  }
  const clientId = env.TMA_KAFKA_CLIENT_ID ?? defaultClientId;
  if (!/^[A-Za-z0-9._-]{1,249}$/.test(clientId)) {
    throw new KafkaConfigError(`TMA_KAFKA_CLIENT_ID: "${clientId}" may hold only letters, digits, ".", "_" and "-"`);
  }
  const settings: KafkaSettings = { brokers, clientId };

  const ca = readPem(env, 'TMA_KAFKA_SSL_CA');
  const cert = readPem(env, 'TMA_KAFKA_SSL_CERT');
  const key = readPem(env, 'TMA_KAFKA_SSL_KEY');
  const sslFlag = env.TMA_KAFKA_SSL;
  if (sslFlag !== undefined && !['true', 'false'].includes(sslFlag)) {
    throw new KafkaConfigError(`TMA_KAFKA_SSL: "${sslFlag}" must be true or false`);
  }
  if (sslFlag === 'true' || ca || cert || key) {
    if ((cert && !key) || (key && !cert)) {
      throw new KafkaConfigError('TMA_KAFKA_SSL_CERT and TMA_KAFKA_SSL_KEY must be given together');
    }
    settings.ssl = ca || cert ? { ca: ca ? [ca] : undefined, cert, key } : true;
  }

  const mechanism = env.TMA_KAFKA_SASL_MECHANISM;
  if (mechanism) {
    if (!(SASL_MECHANISMS as readonly string[]).includes(mechanism)) {
      throw new KafkaConfigError(
        `TMA_KAFKA_SASL_MECHANISM: "${mechanism}" is not one of ${SASL_MECHANISMS.join(', ')}`,
      );
    }
    const username = env.TMA_KAFKA_SASL_USERNAME;
    const password = env.TMA_KAFKA_SASL_PASSWORD;
    if (!username || !password) {
      throw new KafkaConfigError('SASL needs TMA_KAFKA_SASL_USERNAME and TMA_KAFKA_SASL_PASSWORD');
    }
    settings.sasl = { mechanism, username, password } as SASLOptions;
  }
  return settings;
}
