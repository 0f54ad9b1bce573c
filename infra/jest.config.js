// infra/deploy/bundle.spec.ts runs the bundled agent against the real Kafka broker (the shared global setup).
module.exports = {
  ...require('../jest.preset.js'),
  ...require('../tools/test/kafka-project.js'),
  displayName: 'infra',
  rootDir: __dirname,
};
