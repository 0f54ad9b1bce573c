// Stops the broker only if global-setup started it (a broker the developer started keeps running).
const { execFileSync } = require('node:child_process');
const path = require('node:path');

module.exports = async function globalTeardown() {
  if (!globalThis.__TMA_STARTED_KAFKA__) return;
  // Root and project teardowns share this flag: the first one stops the broker, the others find nothing to do.
  globalThis.__TMA_STARTED_KAFKA__ = false;
  const root = path.resolve(__dirname, '../..');
  execFileSync('bash', [path.join(root, 'infra/kafka/kafka.sh'), 'stop'], { cwd: root, stdio: 'inherit' });
};
