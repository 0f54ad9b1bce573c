// Needs the real Kafka broker: the shared global setup reuses a running one or starts the project's own, so this
// project also runs alone (`npx jest --config libs/aggregation/jest.config.js`).
module.exports = {
  ...require('../../jest.preset.js'),
  ...require('../../tools/test/kafka-project.js'),
  displayName: 'aggregation',
  rootDir: __dirname,
};
