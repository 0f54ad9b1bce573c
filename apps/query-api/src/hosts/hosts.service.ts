// Hosts seen in a range, from the 1 min tier's per-host counters (exact totals, last seen, sequence gaps).
import { Inject, Injectable } from '@nestjs/common';
import { MINUTE_TIER } from '@tma/rollup';
import type { Storage } from '@tma/storage';
import { ID_SQL } from '../partials/partial-row';
import { PartialStore } from '../partials/partial-store';
import { wireCount } from '../common/count';
import { iso, type Scope } from '../partials/scope';
import { STORAGE } from '../tokens';
import type { HostsArgs } from './hosts.args';

const HOST_COLUMNS = [
  'window_start',
  'window_seconds',
  'hosts',
  'host_packets',
  'host_bytes',
  'host_snapshots',
  'host_gaps',
  'host_last_seq',
  'host_boot',
  'host_agent_version',
];
const inRange = (t: string) =>
  `${t}tier = {tier:String} AND ${t}window_start >= {from:DateTime} AND ${t}window_start < {to:DateTime}`;

/**
 * The range's 1 min rows: every final row the ownership fence keeps (libs/rollup fence.ts; the row index names the
 * rows it drops), and the provisional row of each window and partition that no kept final row holds yet (the rule of
 * partials/provisional-index.ts, here in SQL so both tables are read by one query).
 */
function rowsSql(fenced: boolean): string {
  const kept = fenced ? ` AND ${ID_SQL} NOT IN {fenced:Array(String)}` : '';
  return `
  SELECT ${HOST_COLUMNS.join(', ')}, 0 AS provisional FROM {database}.agg_partials FINAL WHERE ${inRange('')}${kept}
  UNION ALL
  SELECT ${HOST_COLUMNS.map((c) => `p.${c} AS ${c}`).join(', ')}, 1 AS provisional
  FROM {database}.agg_provisional AS p FINAL
  LEFT JOIN (
    SELECT window_start, topic, partition, min(first_offset) AS first_final, 1 AS has_final
    FROM {database}.agg_partials FINAL WHERE ${inRange('')}${kept}
    GROUP BY window_start, topic, partition
  ) AS f ON p.window_start = f.window_start AND p.topic = f.topic AND p.partition = f.partition
  WHERE ${inRange('p.')} AND p.expires_at > now()
    AND NOT (f.has_final = 1 AND f.first_final <= p.last_offset)`;
}

@Injectable()
export class HostsService {
  constructor(
    @Inject(STORAGE) private readonly storage: Storage,
    private readonly partials: PartialStore,
  ) {}

  /** Hosts seen in the range (1 min tier, which keeps per-host counters): exact totals, last seen, sequence gaps. */
  async hosts({ range, hosts }: HostsArgs) {
    // Rows the ownership fence drops (libs/rollup fence.ts) are left out here too: the row index names them.
    const { fenced } = await this.partials.select(range, { hourTier: false });
    const ROWS_SQL = rowsSql(fenced.length > 0);
    const params = {
      tier: MINUTE_TIER,
      from: new Date(range.from),
      to: new Date(range.to),
      hosts: hosts ?? [],
      fenced,
    };
    const rows = await this.storage.query<{
      host: string;
      last_seen: string;
      first_seen: string;
      snapshots: string;
      packets: string;
      bytes: string;
      gaps: string;
      last_seq: string;
      boot: string;
      agent_version: string;
    }>(
      `SELECT host, toUnixTimestamp(max(window_start + window_seconds)) AS last_seen, toUnixTimestamp(min(window_start)) AS first_seen,
              sum(s) AS snapshots, sum(toUInt128(p)) AS packets, sum(toUInt128(b)) AS bytes, sum(g) AS gaps,
              toString(argMax(seq, window_start)) AS last_seq, argMax(boot, window_start) AS boot,
              argMaxIf(ver, window_start, ver != '') AS agent_version
       FROM (${ROWS_SQL})
       ARRAY JOIN hosts AS host, host_packets AS p, host_bytes AS b, host_snapshots AS s, host_gaps AS g, host_last_seq AS seq, host_boot AS boot,
                  arrayResize(host_agent_version, length(hosts)) AS ver
       ${hosts ? 'WHERE host IN {hosts:Array(String)}' : ''}
       GROUP BY host ORDER BY packets DESC, host`,
      params,
    );
    const [w] = await this.storage.query<{ windows: string; provisional_rows: string; provisional_from: string }>(
      `SELECT uniqExact(window_start) AS windows, countIf(provisional = 1) AS provisional_rows,
              toUnixTimestamp(minIf(window_start, provisional = 1)) AS provisional_from
       FROM (${ROWS_SQL})`,
      params,
    );
    const scope: Scope = {
      from: iso(range.from),
      to: iso(range.to),
      tiers: { [MINUTE_TIER]: Number(w?.windows ?? 0) },
      hosts: hosts ?? null,
      exact: true,
      provisionalFrom: Number(w?.provisional_rows ?? 0) > 0 ? iso(Number(w.provisional_from) * 1000) : null,
    };
    return {
      scope,
      hosts: rows.map((r) => ({
        host: r.host,
        firstSeen: iso(Number(r.first_seen) * 1000),
        lastSeen: iso(Number(r.last_seen) * 1000),
        // The newest version the host reported in the range; null when only rows from before versions were stored.
        agentVersion: r.agent_version === '' ? null : r.agent_version,
        bootId: r.boot,
        lastSequence: Number(r.last_seq),
        snapshots: Number(r.snapshots),
        // Summed as UInt128 (a UInt64 sum wraps past 2^64), read as text: exact.
        packets: wireCount(BigInt(r.packets)),
        bytes: wireCount(BigInt(r.bytes)),
        gaps: Number(r.gaps),
      })),
    };
  }
}
