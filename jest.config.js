// Root Jest config: one project per app/lib (each has its own jest.config.js); real Kafka started once for all.
const fs = require('node:fs');
const path = require('node:path');

const projects = ['apps', 'libs']
  .flatMap((dir) => fs.readdirSync(path.join(__dirname, dir)).map((name) => path.join(dir, name)))
  .filter((p) => fs.existsSync(path.join(__dirname, p, 'jest.config.js')))
  .map((p) => `<rootDir>/${p}`);

module.exports = {
  projects,
  globalSetup: '<rootDir>/tools/test/global-setup.js',
  globalTeardown: '<rootDir>/tools/test/global-teardown.js',
  testTimeout: 60000,
};
