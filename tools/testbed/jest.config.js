// Needs the real Kafka broker (the end-to-end test), root and network namespaces; the shared global setup reuses a
// running broker or starts the project's own, so this project also runs alone
// (`npx jest --config tools/testbed/jest.config.js`).
module.exports = {
  ...require('../../jest.preset.js'),
  ...require('../../tools/test/kafka-project.js'),
  displayName: 'testbed',
  rootDir: __dirname,
};
