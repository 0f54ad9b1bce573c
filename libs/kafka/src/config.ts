import { readFileSync } from 'node:fs';
import { ConfigError, loadSettings, optional, rule, rules, setting } from '@tma/config';
import type { KafkaConfig, SASLOptions } from 'kafkajs';

export interface KafkaSettings {
  brokers: string[];
  clientId: string;
  ssl?: KafkaConfig['ssl'];
  sasl?: SASLOptions;
}

const SASL_MECHANISMS = ['plain', 'scram-sha-256', 'scram-sha-512'] as const;

/** A PEM file named by a variable, read at start-up. */
const pemFile = rule((file) => {
  try {
    return readFileSync(String(file), 'utf8');
  } catch (err) {
    throw new ConfigError(`cannot read the file ${String(file)} (${(err as Error).message})`);
  }
});

/**
 * Kafka settings from the environment, validated once at start-up:
 *   TMA_KAFKA_BROKERS      comma-separated host:port list (default 127.0.0.1:9092, the broker `./tma` starts)
 *   TMA_KAFKA_CLIENT_ID    client id shown in broker logs and quotas (default: the caller's)
 *   TMA_KAFKA_SSL          "true" to use TLS with the system CAs; TMA_KAFKA_SSL_CA / _CERT / _KEY name PEM files
 *   TMA_KAFKA_SASL_MECHANISM plain | scram-sha-256 | scram-sha-512, with TMA_KAFKA_SASL_USERNAME / _PASSWORD
 * Everything is passed through to kafkajs unchanged.
 */
export function loadKafkaSettings(env: NodeJS.ProcessEnv, defaultClientId: string): KafkaSettings {
  const { values: v } = loadSettings(
    {
      brokers: setting({ env: 'TMA_KAFKA_BROKERS', schema: rules.hostPorts(), default: ['127.0.0.1:9092'] }),
      clientId: setting({ env: 'TMA_KAFKA_CLIENT_ID', schema: rules.name(249), default: defaultClientId }),
      ssl: setting({ env: 'TMA_KAFKA_SSL', schema: rules.boolean({ yes: ['true'], no: ['false'] }), default: false }),
      ca: optional('TMA_KAFKA_SSL_CA', pemFile),
      cert: optional('TMA_KAFKA_SSL_CERT', pemFile),
      key: optional('TMA_KAFKA_SSL_KEY', pemFile),
      mechanism: optional('TMA_KAFKA_SASL_MECHANISM', rules.oneOf(SASL_MECHANISMS)),
      username: optional('TMA_KAFKA_SASL_USERNAME', rules.raw()),
      password: optional('TMA_KAFKA_SASL_PASSWORD', rules.raw()),
    },
    { env },
    ({ values }, report) => {
      if (!values.cert !== !values.key) report('', 'TMA_KAFKA_SSL_CERT and TMA_KAFKA_SSL_KEY must be given together');
      if (values.mechanism && (!values.username || !values.password))
        report('TMA_KAFKA_SASL_MECHANISM', 'SASL needs TMA_KAFKA_SASL_USERNAME and TMA_KAFKA_SASL_PASSWORD');
    },
  );
  const settings: KafkaSettings = { brokers: v.brokers, clientId: v.clientId };
  if (v.ssl || v.ca || v.cert || v.key)
    settings.ssl = v.ca || v.cert ? { ca: v.ca ? [v.ca] : undefined, cert: v.cert, key: v.key } : true;
  if (v.mechanism)
    settings.sasl = { mechanism: v.mechanism, username: v.username, password: v.password } as SASLOptions;
  return settings;
}
