// Jest global setup: the suite runs against a real Kafka broker. Reuse one that is running (or the cluster in
// TMA_KAFKA_BROKERS); otherwise start the project's own and remember to stop it in global-teardown.
const { execFileSync } = require('node:child_process');
const path = require('node:path');

const root = path.resolve(__dirname, '../..');
const script = path.join(root, 'infra/kafka/kafka.sh');

function kafka(cmd, opts = {}) {
  return execFileSync('bash', [script, cmd], { cwd: root, encoding: 'utf8', ...opts });
}

module.exports = async function globalSetup() {
  // Tests choose their hash seeds themselves (the public one unless a test sets another): a deployment's seed in the
  // shell must not reach the components they start.
  delete process.env.TMA_HASH_SEED;
  delete process.env.TMA_HASH_SEED_FILE;
  if (process.env.TMA_KAFKA_BROKERS) return;
  let running = true;
  try {
    kafka('status', { stdio: 'pipe' });
  } catch {
    running = false;
  }
  if (!running) {
    process.stderr.write('\n[tma] starting the Kafka broker for the test run\n');
    kafka('start', { stdio: ['ignore', 'inherit', 'inherit'] });
    globalThis.__TMA_STARTED_KAFKA__ = true;
  }
  process.env.TMA_KAFKA_BROKERS = `127.0.0.1:${process.env.TMA_KAFKA_PORT || 9092}`;
};
