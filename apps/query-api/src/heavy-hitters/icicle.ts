// The prefix tree of the flows' weight on one side, for the dashboard's icicle charts.
import { formatAddress, type HeavyHitter, IPV4_PREFIXES, IPV6_PREFIXES, isIPv4Mapped, type RankBy } from '@tma/sketch';

export interface IcicleNode {
  prefix: string;
  length: number;
  parent: string | null;
  weight: number;
  share: number;
}

/** Prefix tree of the flows' weight for one side, coarse to fine, at most 24 children kept per node (for drawing). */
export function icicle(flows: HeavyHitter[], side: 'src' | 'dst', by: RankBy, total: number): IcicleNode[] {
  const offset = side === 'src' ? 0 : 16;
  const nodes = new Map<string, IcicleNode>();
  const children = new Map<string | null, IcicleNode[]>();
  for (const f of flows) {
    const v4 = isIPv4Mapped(f.key, offset);
    const levels = [...(v4 ? IPV4_PREFIXES : IPV6_PREFIXES)].reverse();
    let parent: string | null = null;
    const w = by === 'packets' ? f.packets : f.bytes;
    for (const len of levels) {
      const bits = v4 ? 96 + len : len;
      const a = f.key.slice(offset, offset + 16);
      for (let i = 0; i < 16; i++) a[i] &= (0xff00 >> Math.max(0, Math.min(8, bits - 8 * i))) & 0xff;
      const prefix = `${formatAddress(a)}/${len}`;
      let n = nodes.get(prefix);
      if (!n) {
        n = { prefix, length: len, parent, weight: 0, share: 0 };
        nodes.set(prefix, n);
        (children.get(parent) ?? children.set(parent, []).get(parent)!).push(n);
      }
      n.weight += w;
      parent = prefix;
    }
  }
  const out: IcicleNode[] = [];
  const walk = (parent: string | null) => {
    const list = (children.get(parent) ?? []).sort((a, b) => b.weight - a.weight).slice(0, 24);
    for (const n of list) {
      n.share = total > 0 ? n.weight / total : 0;
      out.push(n);
      walk(n.prefix);
    }
  };
  walk(null);
  return out;
}
