#!/usr/bin/env node
// Prints what the migrator runs on a ClickHouse cluster (TMA_CLICKHOUSE_CLUSTER), generated from the migration
// files by libs/storage (cluster-ddl.ts), or the servers' <remote_servers> entry for a cluster. docs/scale.md.
//
//   ./tma ddl --cluster NAME [--database tma] [--dir MIGRATIONS_DIR]
//   ./tma ddl --cluster NAME --shards N --replicas N [--host 'clickhouse-{shard}-{replica}'] [--port 9000]
'use strict';
const path = require('node:path');
const { parseArgs } = require('node:util');

const USAGE = `usage:
  ./tma ddl --cluster NAME [--database tma] [--dir DIR]   cluster DDL of every migration, as the migrator runs it
  ./tma ddl --cluster NAME --shards N --replicas N [--host 'clickhouse-{shard}-{replica}'] [--port 9000]
                                                         <remote_servers> for the servers' config.d/`;

function main() {
  let values;
  try {
    ({ values } = parseArgs({
      options: {
        cluster: { type: 'string' },
        database: { type: 'string', default: process.env.TMA_CLICKHOUSE_DATABASE || 'tma' },
        dir: { type: 'string' },
        shards: { type: 'string' },
        replicas: { type: 'string' },
        host: { type: 'string', default: 'clickhouse-{shard}-{replica}' },
        port: { type: 'string', default: '9000' },
        help: { type: 'boolean' },
      },
    }));
  } catch (err) {
    return fail(err.message);
  }
  if (values.help) return void console.log(USAGE);
  if (!values.cluster) return fail('--cluster NAME is required (the <remote_servers> name of the cluster)');
  const storage = require(path.join(__dirname, '../../libs/storage/dist/index.js'));
  try {
    if (values.shards !== undefined || values.replicas !== undefined) {
      process.stdout.write(
        storage.remoteServersXml({
          cluster: values.cluster,
          shards: Number(values.shards ?? 1),
          replicas: Number(values.replicas ?? 1),
          host: values.host,
          port: Number(values.port),
        }),
      );
      return;
    }
    const options = { cluster: values.cluster, database: values.database };
    const out = [
      `-- Cluster DDL for database ${values.database} on cluster ${values.cluster}, generated from the migrations.`,
      '-- Applied by the migrator when TMA_CLICKHOUSE_CLUSTER is set; printed by ./tma ddl.',
      '',
      '-- bootstrap (the migrator)',
    ];
    for (const s of storage.clusterBootstrap(options, storage.MIGRATIONS_TABLE_SQL))
      out.push(`-- ${s.note}`, `${s.sql};`, '');
    for (const m of storage.clusterMigrations(storage.loadMigrations(values.dir), options)) {
      out.push(`-- ${m.name}`);
      for (const s of m.statements) out.push(`-- ${s.note}`, `${s.sql};`, '');
    }
    process.stdout.write(out.join('\n'));
  } catch (err) {
    fail(err.message);
  }
}

function fail(message) {
  process.stderr.write(`tma ddl: ${message}\n${USAGE}\n`);
  process.exitCode = 2;
}

main();
