#!/usr/bin/env node
// The standalone aggregator (built dist/) on a storage that SIGKILLs this process right after the N-th write of
// 1 min partial rows was acknowledged, before the aggregator could commit the offsets those rows hold: the worst
// moment for a crash. Usage: node kill-after-writes.js N (settings from the environment, as main.js).
'use strict';
const { createStorage, loadStorageConfig } = require('@tma/storage');
const { patchKafkajsIdleTimers } = require('@tma/aggregation');
const { startAggregator } = require('../../dist/start');

const killAfter = Number(process.argv[2]);

async function main() {
  patchKafkajsIdleTimers();
  const storage = await createStorage(loadStorageConfig(process.env));
  let writes = 0;
  const faulty = new Proxy(storage, {
    get(target, prop) {
      if (prop !== 'insertRows') {
        const v = target[prop];
        return typeof v === 'function' ? v.bind(target) : v;
      }
      return async (table, rows, options) => {
        await target.insertRows(table, rows, options);
        if (table === 'agg_partials' && rows[0]?.tier === '1m' && ++writes >= killAfter) {
          process.stdout.write(`fault injection: SIGKILL after write ${writes}, before the commit\n`);
          process.kill(process.pid, 'SIGKILL');
          await new Promise(() => undefined); // never returns to the aggregator
        }
      };
    },
  });
  const handle = await startAggregator({ storage: faulty });
  process.stdout.write(`aggregator metrics and health on ${handle.url}\n`);
}

main().catch((err) => {
  process.stderr.write(`aggregator: ${err.stack ?? err}\n`);
  process.exit(1);
});
