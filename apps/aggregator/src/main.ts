// Standalone aggregator: node apps/aggregator/dist/main.js (settings from the environment, see config.ts).
import { patchKafkajsIdleTimers } from '@tma/kafka';
import { startAggregator } from './start';

async function main(): Promise<void> {
  // Idle kafkajs connections otherwise re-arm a 1 ms timer each, all day (see @tma/kafka).
  patchKafkajsIdleTimers();
  const handle = await startAggregator();
  process.stdout.write(`aggregator metrics and health on ${handle.url} (/metrics, /health, /ready)\n`);
  let closing = false;
  const shutdown = (signal: string) => {
    if (closing) return;
    closing = true;
    process.stdout.write(`${signal}: flushing open windows and leaving the group\n`);
    handle.close().then(
      () => process.exit(0),
      (err) => {
        process.stderr.write(`shutdown failed: ${(err as Error).message}\n`);
        process.exit(1);
      },
    );
  };
  process.on('SIGTERM', () => shutdown('SIGTERM'));
  process.on('SIGINT', () => shutdown('SIGINT'));
}

main().catch((err) => {
  process.stderr.write(`aggregator: ${(err as Error).stack ?? err}\n`);
  process.exit(1);
});
