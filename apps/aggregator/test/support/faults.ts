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

/** Control of stalledPartialWrites(): arm it, learn when a write is held, let the held write land. */
export interface WriteStall {
  storage: Storage;
  /** The next partial-row insert is held (not sent to ClickHouse) until release(). */
  arm(): void;
  /** Resolves with the rows of the held insert once one is held. */
  held: Promise<readonly Record<string, unknown>[]>;
  /** Sends the held insert to ClickHouse; resolves once ClickHouse acknowledged it. */
  release(): Promise<void>;
  /** Lets a held insert (or the next armed one) through without waiting: for a test's clean-up after a failure. */
  open(): void;
}

/**
 * A ClickHouse write in flight for as long as the test wants: the first insert of 1 min partial rows after arm()
 * stalls (the 1 h tier, written to the same table when an hour completes, goes through).
 */
export function stalledPartialWrites(storage: Storage): WriteStall {
  let armed = false;
  let onHeld!: (rows: readonly Record<string, unknown>[]) => void;
  let go!: () => void;
  let landed!: Promise<void>;
  const gate = new Promise<void>((r) => (go = r));
  const held = new Promise<readonly Record<string, unknown>[]>((r) => (onHeld = r));
  const wrapped = withOverrides(storage, {
    insertRows: async (table, rows, options) => {
      if (!armed || table !== 'agg_partials' || !rows.every((r) => r.tier === '1m'))
        return storage.insertRows(table, rows, options);
      armed = false;
      onHeld(rows);
      landed = gate.then(() => storage.insertRows(table, rows, options));
      return landed;
    },
  });
  return {
    storage: wrapped,
    arm: () => void (armed = true),
    held,
    release: async () => {
      go();
      await held;
      await landed;
    },
    open: () => {
      armed = false;
      go();
    },
  };
}

/** The kafkajs internals the freeze relies on (kafkajs/src/network/connection, 2.2.x). */
interface ConnectionProto {
  clientId: string;
  send(this: ConnectionProto, ...args: unknown[]): Promise<unknown>;
}

/**
 * Cuts every Kafka request of the clients named `clientId` off while frozen (a network partition between one
 * instance and the brokers): requests wait, unsent, until thaw(). Its group session then expires at the broker
 * while the rest of the process goes on. Test-only: patches the kafkajs connection prototype of this process.
 */
export function kafkaPartition(clientId: string): { freeze(): void; thaw(): void; restore(): void } {
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  const Connection = require('kafkajs/src/network/connection') as { prototype: ConnectionProto };
  const proto = Connection.prototype;
  const send = proto.send;
  let thawed: Promise<void> | undefined;
  let thaw: () => void = () => undefined;
  proto.send = async function (this: ConnectionProto, ...args: unknown[]) {
    while (thawed && this.clientId === clientId) await thawed;
    return send.apply(this, args);
  };
  return {
    freeze: () => void (thawed ??= new Promise<void>((r) => (thaw = r))),
    thaw: () => {
      thawed = undefined;
      thaw();
    },
    restore: () => {
      thawed = undefined;
      thaw();
      proto.send = send;
    },
  };
}
