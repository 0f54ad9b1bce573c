// Jest settings for a project whose tests need the real Kafka broker. In a whole-repo run the root config's setup has
// already started (or found) the broker and the project's setup returns at once.
const path = require('node:path');

module.exports = {
  globalSetup: path.join(__dirname, 'global-setup.js'),
  globalTeardown: path.join(__dirname, 'global-teardown.js'),
};
