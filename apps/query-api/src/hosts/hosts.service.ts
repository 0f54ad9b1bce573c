// Hosts seen in a range, from the 1 min tier's per-host counters (exact totals, last seen, sequence gaps).
import { Inject, Injectable } from '@nestjs/common';
import { MINUTE_TIER } from '@tma/rollup';
import type { Storage } from '@tma/storage';
import { wireCount } from '../common/count';
import { iso, type Scope } from '../partials/scope';
import { STORAGE } from '../tokens';
import type { HostsArgs } from './hosts.args';

@Injectable()
export class HostsService {
  constructor(@Inject(STORAGE) private readonly storage: Storage) {}

  /** Hosts seen in the range (1 min tier, which keeps per-host counters): exact totals, last seen, sequence gaps. */
  async hosts({ range, hosts }: HostsArgs) {
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
       FROM {database}.agg_partials FINAL
       ARRAY JOIN hosts AS host, host_packets AS p, host_bytes AS b, host_snapshots AS s, host_gaps AS g, host_last_seq AS seq, host_boot AS boot,
                  arrayResize(host_agent_version, length(hosts)) AS ver
       WHERE tier = {tier:String} AND window_start >= {from:DateTime} AND window_start < {to:DateTime}
         ${hosts ? 'AND host IN {hosts:Array(String)}' : ''}
       GROUP BY host ORDER BY packets DESC, host`,
      { tier: MINUTE_TIER, from: new Date(range.from), to: new Date(range.to), hosts: hosts ?? [] },
    );
    const [w] = await this.storage.query<{ windows: string }>(
      'SELECT uniqExact(window_start) AS windows FROM {database}.agg_partials WHERE tier = {tier:String} AND window_start >= {from:DateTime} AND window_start < {to:DateTime}',
      { tier: MINUTE_TIER, from: new Date(range.from), to: new Date(range.to) },
    );
    const scope: Scope = {
      from: iso(range.from),
      to: iso(range.to),
      tiers: { [MINUTE_TIER]: Number(w?.windows ?? 0) },
      hosts: hosts ?? null,
      exact: true,
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
