import { ConfigError } from '@tma/config';
import { loadKafkaSettings } from './config';

describe('loadKafkaSettings', () => {
  it('defaults to the local broker', () => {
    expect(loadKafkaSettings({}, 'tma-test')).toEqual({ brokers: ['127.0.0.1:9092'], clientId: 'tma-test' });
  });

  it('passes brokers, TLS and SASL through', () => {
    const s = loadKafkaSettings(
      {
        TMA_KAFKA_BROKERS: 'k1:9093, [::1]:9094',
        TMA_KAFKA_SSL: 'true',
        TMA_KAFKA_SASL_MECHANISM: 'scram-sha-512',
        TMA_KAFKA_SASL_USERNAME: 'u',
        TMA_KAFKA_SASL_PASSWORD: 'p',
      },
      'x',
    );
    expect(s.brokers).toEqual(['k1:9093', '[::1]:9094']);
    expect(s.ssl).toBe(true);
    expect(s.sasl).toEqual({ mechanism: 'scram-sha-512', username: 'u', password: 'p' });
  });

  it.each([
    [{ TMA_KAFKA_BROKERS: 'nohost' }, /not host:port/],
    [{ TMA_KAFKA_BROKERS: 'h:70000' }, /not host:port/],
    [{ TMA_KAFKA_BROKERS: ' , ' }, /empty/],
    [{ TMA_KAFKA_SSL: 'yes' }, /true or false/],
    [{ TMA_KAFKA_SSL_CA: '/nonexistent/ca.pem' }, /cannot read/],
    [
      { TMA_KAFKA_SASL_MECHANISM: 'gssapi', TMA_KAFKA_SASL_USERNAME: 'u', TMA_KAFKA_SASL_PASSWORD: 'p' },
      /must be one of/,
    ],
    [{ TMA_KAFKA_SASL_MECHANISM: 'plain' }, /USERNAME/],
    [{ TMA_KAFKA_CLIENT_ID: 'bad id' }, /CLIENT_ID/],
  ])('rejects %j with a clear message', (env, message) => {
    expect(() => loadKafkaSettings(env, 'x')).toThrow(ConfigError);
    expect(() => loadKafkaSettings(env, 'x')).toThrow(message);
  });
});
