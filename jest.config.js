// Root Jest config: every folder with its own jest.config.js is a project (apps/*, libs/*, bpf, infra, tools/*).
// The real Kafka broker is started once for the whole run by tools/test/global-setup.js.
const fs = require('node:fs');
const path = require('node:path');

const candidates = [
  'bpf',
  'infra',
  ...['apps', 'libs', 'tools'].flatMap((dir) =>
    fs.readdirSync(path.join(__dirname, dir)).map((name) => path.join(dir, name)),
  ),
];

module.exports = {
  projects: candidates
    .filter((p) => fs.existsSync(path.join(__dirname, p, 'jest.config.js')))
    .map((p) => `<rootDir>/${p}`),
  globalSetup: '<rootDir>/tools/test/global-setup.js',
  globalTeardown: '<rootDir>/tools/test/global-teardown.js',
  testTimeout: 60000,
};
