// Faults the aggregator must survive, injected through the storage it is handed: the product code has no fault
// switches. (kill-after-writes.js does the same for a child process.)
import { KafkaJSNonRetriableError } from 'kafkajs';
import type { Storage } from '@tma/storage';

/** `storage` with some of its methods replaced; everything else passes through. */
function withOverrides(storage: Storage, overrides: Partial<Pick<Storage, 'insertRows' | 'query'>>): Storage {
  return new Proxy(storage, {
    get(target, prop, receiver) {
      const own = overrides[prop as keyof typeof overrides];
      if (own) return own;
      const v = Reflect.get(target, prop, receiver);
      return typeof v === 'function' ? v.bind(target) : v;
    },
  });
}

/** Partial-row inserts fail while `state.down` is set (ClickHouse unreachable). */
export function failingPartialWrites(storage: Storage, state: { down: boolean }): Storage {
  return withOverrides(storage, {
    insertRows: async (table, rows, options) => {
      if (state.down && table === 'agg_partials') throw new Error('connect ECONNREFUSED (simulated ClickHouse outage)');
      return storage.insertRows(table, rows, options);
    },
  });
}

/**
 * The first resume of each of the first `times` consumers fails with an error kafkajs does not retry, so kafkajs
 * stops that consumer for good. A new consumer's first batch loads the stored offset ranges of its partitions; the
 * crashed consumer's other batches already fetched do so again at once, while the next consumer comes at least 1 s
 * later (restart backoff): loads within 500 ms of a failure belong to the same consumer and pass.
 */
export function crashingResumes(storage: Storage, times: number): Storage {
  let crashes = 0;
  let lastCrash = -Infinity;
  return withOverrides(storage, {
    query: (async (sql, params, options) => {
      if (crashes < times && /last_offset >= /.test(sql) && Date.now() - lastCrash > 500) {
        crashes++;
        lastCrash = Date.now();
        throw new KafkaJSNonRetriableError(`injected non-retriable failure ${crashes} (test storage)`);
      }
      return storage.query(sql, params, options);
    }) as Storage['query'],
  });
}

/** Every partial-row insert holding a row of host `host` fails, always (a window ClickHouse refuses). */
export function poisonedWindows(storage: Storage, host: string): Storage {
  return withOverrides(storage, {
    insertRows: async (table, rows, options) => {
      if (table === 'agg_partials' && rows.some((r) => (r.hosts as string[] | undefined)?.includes(host)))
        throw new Error(`Code: 53. Type mismatch in a row of ${host} (simulated poisoned window)`);
      return storage.insertRows(table, rows, options);
    },
  });
}
