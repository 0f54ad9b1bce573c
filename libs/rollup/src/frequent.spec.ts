// The coarse tiers' frequent-items summaries: Misra–Gries bounds against exact counts (Zipf, adversarial orders, any
// grouping of merges), bounds of the lists built from since-entry counts plus slack, and a day of hours with flows
// steady at 0.02 % of every hour.
import fc from 'fast-check';
import { CountMinSketch, decodeCandidateList, encodeCandidates, flowKey, splitTopK, type Candidate } from '@tma/sketch';
import { Rng, zipfCounts } from '@tma/sketch/testing';
import { CandidateBlock, unionBlocks } from './candidates';
import {
  exactSummary,
  frequentState,
  mergeSummaries,
  storedSummary,
  summaryError,
  windowSlack,
  type FrequentSummary,
} from './frequent';
import { DAY_CANDIDATES, HOUR_CANDIDATES } from './tiers';

const keys: Uint8Array[] = [];
const key = (i: number) =>
  (keys[i] ??= flowKey({
    src: `10.${(i >> 16) & 255}.${(i >> 8) & 255}.${i & 255}`,
    dst: '192.0.2.1',
    sport: 1000 + (i % 50000),
    dport: 443,
    proto: 6,
  }));
const hex = (k: Uint8Array) => Buffer.from(k).toString('hex');

/** One window: for each listed flow its since-entry count and what came before entry (≤ `pre`); F for the others. */
interface Window {
  listed: { item: number; since: number; pre: number }[];
  unlisted: { item: number; truth: number }[];
  floor: number;
}

/** A window's list (upper = since + pre + extra, bytes = 10 × packets) and its CMS of the window's true traffic. */
function windowSummary(w: Window): FrequentSummary {
  const cmsP = new CountMinSketch();
  const cmsB = new CountMinSketch();
  const candidates: Candidate[] = w.listed.map((l) => ({
    key: key(l.item),
    packets: l.since + l.pre + 3,
    bytes: 10 * (l.since + l.pre + 3),
    sincePackets: l.since,
    sinceBytes: 10 * l.since,
  }));
  for (const l of w.listed) {
    cmsP.addKey(key(l.item), l.since + l.pre);
    cmsB.addKey(key(l.item), 10 * (l.since + l.pre));
  }
  for (const u of w.unlisted) {
    cmsP.addKey(key(u.item), u.truth);
    cmsB.addKey(key(u.item), 10 * u.truth);
  }
  const block = CandidateBlock.from({
    candidates,
    floor: { packets: w.floor, bytes: 10 * w.floor },
    sampled: false,
  });
  return exactSummary(block, windowSlack(block, cmsP, cmsB));
}

/** Exact truth and since-entry sums per item over windows. */
function exact(windows: readonly Window[]): { truth: Map<number, number>; since: Map<number, number> } {
  const truth = new Map<number, number>();
  const since = new Map<number, number>();
  for (const w of windows) {
    for (const l of w.listed) {
      truth.set(l.item, (truth.get(l.item) ?? 0) + l.since + l.pre);
      since.set(l.item, (since.get(l.item) ?? 0) + l.since);
    }
    for (const u of w.unlisted) truth.set(u.item, (truth.get(u.item) ?? 0) + u.truth);
  }
  return { truth, since };
}

/** Checks every bound a summary states against the exact counts; returns the number of positive counters. */
function checkBounds(s: FrequentSummary, windows: readonly Window[], k: number): void {
  const { truth, since } = exact(windows);
  const at = new Map<string, number>();
  for (let i = 0; i < s.block.size; i++) at.set(hex(s.block.key(i)), i);
  const err = summaryError(s);
  const floor = s.block.floor!;
  expect(floor).toBeDefined();
  let positiveP = 0;
  let positiveB = 0;
  for (let i = 0; i < s.block.size; i++) {
    if (s.packets[i] > 0) positiveP++;
    if (s.bytes[i] > 0) positiveB++;
  }
  expect(positiveP).toBeLessThanOrEqual(k);
  expect(positiveB).toBeLessThanOrEqual(k);
  for (const [item, t] of truth) {
    const i = at.get(hex(key(item)));
    const S = since.get(item) ?? 0;
    const c = i === undefined ? 0 : s.packets[i];
    const cb = i === undefined ? 0 : s.bytes[i];
    // Misra–Gries on what was fed: c ≤ S ≤ c + Δ (bytes alike).
    expect(c).toBeLessThanOrEqual(S);
    expect(S).toBeLessThanOrEqual(c + err.packets + 1e-9);
    expect(cb).toBeLessThanOrEqual(10 * S);
    expect(10 * S).toBeLessThanOrEqual(cb + err.bytes + 1e-9);
    // The list's bounds: L ≤ truth ≤ upper + floor, and every flow not kept within the floor.
    if (i === undefined) {
      expect(t).toBeLessThanOrEqual(floor.packets);
      expect(10 * t).toBeLessThanOrEqual(floor.bytes);
    } else {
      expect(s.block.sincePackets[i]).toBeLessThanOrEqual(t);
      expect(s.block.sinceBytes[i]).toBeLessThanOrEqual(10 * t);
      expect(s.block.sincePackets[i]).toBeGreaterThanOrEqual(c);
      expect(t).toBeLessThanOrEqual(s.block.packets[i] + floor.packets);
      expect(10 * t).toBeLessThanOrEqual(s.block.bytes[i] + floor.bytes);
    }
  }
}

/** Windows as fast-check draws them: a few items, since-entry counts, what came before entry, a floor. */
const windowArb = (items: number) =>
  fc
    .record({
      listed: fc.uniqueArray(
        fc.record({
          item: fc.nat(items - 1),
          since: fc.integer({ min: 0, max: 500 }),
          pre: fc.integer({ min: 0, max: 5 }),
        }),
        { selector: (l) => l.item, maxLength: 25 },
      ),
      floor: fc.integer({ min: 0, max: 5 }),
      unlistedSeed: fc.nat(),
    })
    .map(({ listed, floor, unlistedSeed }): Window => {
      const named = new Set(listed.map((l) => l.item));
      const rng = new Rng(unlistedSeed);
      const unlisted: Window['unlisted'] = [];
      for (let item = 0; item < items; item++)
        if (!named.has(item) && rng.int(3) === 0) unlisted.push({ item, truth: rng.int(floor + 1) });
      return { listed, unlisted, floor };
    });

/** Merges summaries as a random binary tree (any grouping, any order). */
function treeMerge(parts: FrequentSummary[], k: number, rng: Rng): FrequentSummary {
  let level = parts.slice();
  while (level.length > 1) {
    const i = rng.int(level.length - 1);
    const take = 2 + rng.int(Math.min(3, level.length - i - 1));
    const merged = mergeSummaries(level.slice(i, i + take), k);
    level = [...level.slice(0, i), merged, ...level.slice(i + take)];
  }
  return level.length === 1 ? mergeSummaries(level, k) : mergeSummaries([], k);
}

describe('frequent-items summaries (Misra–Gries, mergeable)', () => {
  it('c ≤ S ≤ c + Δ and L ≤ truth ≤ U, floor above every flow not kept, whatever the grouping of merges', () => {
    fc.assert(
      fc.property(
        fc.array(windowArb(60), { minLength: 1, maxLength: 30 }),
        fc.integer({ min: 1, max: 12 }),
        fc.nat(),
        (windows, k, seed) => {
          const parts = windows.map(windowSummary);
          const s = treeMerge(parts, k, new Rng(seed));
          checkBounds(s, windows, k);
        },
      ),
      { numRuns: 150 },
    );
  });

  it('merging is associative up to the bound: (a·b)·c and a·(b·c) both hold it, and agree within their Δs', () => {
    fc.assert(
      fc.property(fc.array(windowArb(40), { minLength: 3, maxLength: 3 }), fc.integer({ min: 1, max: 8 }), (ws, k) => {
        const [a, b, c] = ws.map(windowSummary);
        const left = mergeSummaries([mergeSummaries([a, b], k), c], k);
        const right = mergeSummaries([a, mergeSummaries([b, c], k)], k);
        checkBounds(left, ws, k);
        checkBounds(right, ws, k);
        const el = summaryError(left).packets;
        const er = summaryError(right).packets;
        const counter = (s: FrequentSummary, item: number) => {
          for (let i = 0; i < s.block.size; i++) if (hex(s.block.key(i)) === hex(key(item))) return s.packets[i];
          return 0;
        };
        for (let item = 0; item < 40; item++)
          expect(Math.abs(counter(left, item) - counter(right, item))).toBeLessThanOrEqual(el + er + 1e-9);
      }),
      { numRuns: 200 },
    );
  });

  // Exact counts (since = truth, floor 0) in orders chosen to hurt: Zipf spread over windows, every item once in
  // round robin (k + 1 distinct items per window: every merge subtracts), weights rising, the heavy item last.
  const orders: [string, (rng: Rng) => number[][]][] = [
    [
      'Zipf 1.1 split over 40 windows',
      (rng) => {
        const counts = zipfCounts(2000, 1.1, 200_000);
        const ws: number[][] = Array.from({ length: 40 }, () => []);
        counts.forEach((c, item) => {
          for (let j = 0; j < c; j++) ws[rng.int(40)].push(item);
        });
        return ws;
      },
    ],
    ['Zipf 1.5, each item in one window', () => zipfCounts(3000, 1.5, 100_000).map((c, item) => Array(c).fill(item))],
    [
      'round robin of k + 1 items',
      () => Array.from({ length: 200 }, (_, w) => Array.from({ length: 21 }, (_, j) => (w * 7 + j) % 63)),
    ],
    ['rising weights, heaviest last', () => Array.from({ length: 300 }, (_, i) => Array(i + 1).fill(i))],
  ];
  it.each(orders)('error within (n − Σc)/(k + 1) against exact counts: %s', (_, make) => {
    const rng = new Rng(42);
    const k = 20;
    const windows: Window[] = make(rng).map((items) => {
      const per = new Map<number, number>();
      for (const it of items) per.set(it, (per.get(it) ?? 0) + 1);
      return { listed: [...per].map(([item, since]) => ({ item, since, pre: 0 })), unlisted: [], floor: 0 };
    });
    for (const grouping of ['sequential', 'tree'] as const) {
      const parts = windows.map(windowSummary);
      const s =
        grouping === 'tree'
          ? treeMerge(parts, k, rng.fork(1))
          : parts.reduce((acc, p) => mergeSummaries([acc, p], k), mergeSummaries([], k));
      checkBounds(s, windows, k);
      // The floor is Δ plus the windows' slack (here only what the upper counts and CMS estimates leave above since).
      expect(s.block.floor!.packets).toBe(Math.floor(summaryError(s).packets) + s.slack!.packets);
    }
  });

  it('windows whose merge reduces no counter keep their union: upper counts summed, floor = Σ floors, Δ = 0', () => {
    fc.assert(
      fc.property(fc.array(windowArb(30), { minLength: 1, maxLength: 10 }), (windows) => {
        const s = mergeSummaries(windows.map(windowSummary), 1000);
        expect(summaryError(s)).toEqual({ packets: 0, bytes: 0 });
        expect(s.block.floor!.packets).toBe(windows.reduce((n, w) => n + w.floor, 0));
        checkBounds(s, windows, 1000);
        // and it merges on as a summary (the day from such hours)
        const day = mergeSummaries([s, mergeSummaries(windows.map(windowSummary), 1000)], 5);
        checkBounds(day, [...windows, ...windows], 5);
      }),
      { numRuns: 100 },
    );
  });

  it('a stored summary (encoded with its list) merges as the summary itself', () => {
    const rng = new Rng(7);
    const windows: Window[] = Array.from({ length: 12 }, () => ({
      listed: Array.from({ length: 30 }, (_, j) => ({
        item: j * 3 + rng.int(3),
        since: rng.int(200),
        pre: rng.int(4),
      })).filter((l, i, a) => a.findIndex((m) => m.item === l.item) === i),
      unlisted: [],
      floor: 4,
    }));
    const s = mergeSummaries(windows.map(windowSummary), 10);
    const bytes = encodeCandidates(s.block.toArray(), undefined, {
      floor: s.block.floor,
      sampled: false,
      frequent: frequentState(s),
    });
    const back = decodeCandidateList(bytes);
    const decoded = CandidateBlock.from(back);
    // The summary's share of the floor travels with the decoded list and adds up over unions (answers state it).
    const err = summaryError(s);
    expect(decoded.summaryError).toEqual({ packets: Math.floor(err.packets), bytes: Math.floor(err.bytes) });
    expect(unionBlocks([decoded, decoded.pick([0])]).summaryError).toEqual({
      packets: 2 * Math.floor(err.packets),
      bytes: 2 * Math.floor(err.bytes),
    });
    const again = storedSummary(decoded, back.frequent!);
    expect(Array.from(again.packets)).toEqual(Array.from(s.packets));
    expect(again.fed).toEqual(s.fed);
    expect(again.slack).toEqual(s.slack);
    expect(again.block.floor).toEqual(s.block.floor);
    const twice = mergeSummaries([again, mergeSummaries(windows.map(windowSummary), 10)], 10);
    checkBounds(twice, [...windows, ...windows], 10);
  });
});

describe('a day of hours: flows steady at a share of every hour', () => {
  // 3 hosts, three 20-minute windows an hour, 24 hours; per host window 10^6 packets of Zipf 1.1 over 3,000 flows that
  // change every hour (the day holds ~216,000 flows), plus flows pinned to host 0 at 0.02 %, 0.1 % and 0.5 % of every
  // hour. Each host window lists what its kernel table would: flows that reached the entry threshold (the noise floor
  // 2·N/w), counted since entry; its floor is the threshold − 1. Hours are summaries of their windows (k = 10,000),
  // the day the summary of its hours.
  const HOSTS = 3;
  const WINDOWS = 3;
  const HOURS = 24;
  const PER_WINDOW = 1_000_000;
  const FLOWS = 3000;
  const STEADY = [0.0002, 0.001, 0.005];
  const steadyItem = (i: number) => 10_000_000 + i;

  let zipf: number[] | undefined;
  /** One host window of `hour` (the windows of an hour carry the same traffic). */
  function hostWindow(hour: number, host: number, rng: Rng, truth: Map<number, number>) {
    const cmsP = new CountMinSketch();
    const cmsB = new CountMinSketch();
    const counts = (zipf ??= zipfCounts(FLOWS, 1.1, PER_WINDOW));
    const flows: [number, number][] = counts.map((c, r) => [1 + ((hour * HOSTS + host) * FLOWS + r) * 1, c]);
    if (host === 0) {
      const hourTotal = HOSTS * WINDOWS * PER_WINDOW;
      STEADY.forEach((share, i) => flows.push([steadyItem(i), Math.round((share * hourTotal) / WINDOWS)]));
    }
    const threshold = Math.max(32, Math.floor((2 * PER_WINDOW) / 4096));
    const candidates: Candidate[] = [];
    for (const [item, c] of flows) {
      if (c === 0) continue;
      truth.set(item, (truth.get(item) ?? 0) + c);
      cmsP.addKey(key(item), c);
      cmsB.addKey(key(item), 100 * c);
    }
    for (const [item, c] of flows) {
      if (c < threshold) continue;
      // Entered at its CMS estimate once it reached the threshold (its first threshold − 1 packets before).
      const before = threshold - 1 - rng.int(3);
      const base = Math.max(before + 1, cmsP.estimateKey(key(item)) - (c - before) + 1);
      const since = c - before;
      candidates.push({
        key: key(item),
        packets: base + since,
        bytes: 100 * (base + since),
        sincePackets: since,
        sinceBytes: 100 * since,
      });
    }
    const block = CandidateBlock.from({
      candidates,
      floor: { packets: threshold - 1, bytes: 100 * (threshold - 1) },
      sampled: false,
    });
    return { summary: exactSummary(block, windowSlack(block, cmsP, cmsB)), cmsP, cmsB };
  }

  it('each steady flow is listed (certain or possible) in the day, or the stated floor is above it; never missing', () => {
    const rng = new Rng(2026);
    const truth = new Map<number, number>();
    const dayP = new CountMinSketch();
    const dayB = new CountMinSketch();
    const hours: FrequentSummary[] = [];
    for (let h = 0; h < HOURS; h++) {
      const parts: FrequentSummary[] = [];
      for (let host = 0; host < HOSTS; host++)
        for (let w = 0; w < WINDOWS; w++) {
          const x = hostWindow(h, host, rng, truth);
          parts.push(x.summary);
          dayP.merge(x.cmsP);
          dayB.merge(x.cmsB);
        }
      hours.push(mergeSummaries(parts, HOUR_CANDIDATES));
    }
    const day = mergeSummaries(hours, DAY_CANDIDATES);
    const floor = day.block.floor!;
    // Every flow of the day: L ≤ truth ≤ U; every flow not listed within the floor.
    const at = new Map<string, number>();
    for (let i = 0; i < day.block.size; i++) at.set(hex(day.block.key(i)), i);
    let outside = 0;
    for (const [item, t] of truth) {
      const i = at.get(hex(key(item)));
      if (i === undefined) {
        expect(t).toBeLessThanOrEqual(floor.packets);
        outside++;
      } else {
        expect(day.block.sincePackets[i]).toBeLessThanOrEqual(t);
        expect(t).toBeLessThanOrEqual(Math.min(dayP.estimateKey(key(item)), day.block.packets[i] + floor.packets));
      }
    }
    expect(outside).toBeGreaterThan(0);
    // The day's top 20 as answers rank it: L = since-entry sums, U = min(CMS estimate, upper + floor).
    const n = day.block.size;
    const lower = Float64Array.from(day.block.sincePackets);
    const upper = new Float64Array(n);
    for (let i = 0; i < n; i++)
      upper[i] = Math.min(dayP.estimate(day.block.hi[i], day.block.lo[i]), day.block.packets[i] + floor.packets);
    const split = splitTopK(lower, upper, 20, floor.packets);
    const listedSet = new Set([...split.certain, ...split.possible]);
    const dayTotal = HOURS * HOSTS * WINDOWS * PER_WINDOW;
    STEADY.forEach((share, s) => {
      const t = truth.get(steadyItem(s))!;
      expect(t).toBeCloseTo(share * dayTotal, -2);
      const i = at.get(hex(key(steadyItem(s))));
      const kept = i !== undefined && day.packets[i] > 0;
      // Above the floor: kept by the summary (the floor is the most a flow not kept can have).
      if (t > floor.packets) expect(kept).toBe(true);
      // Never silently missing: named by the day's list, or the floor stated is at least its traffic.
      expect(i !== undefined || floor.packets >= t).toBe(true);
    });
    // The 0.5 % flow is in the day's top 20 for certain; the floor (what answers state) is below it.
    const big = at.get(hex(key(steadyItem(2))))!;
    expect(listedSet.has(big) && split.certain.includes(big)).toBe(true);
    // The floor is Δ (≤ n/(k+1)) plus the windows' slack; state both so the figures in docs can be checked.
    const err = summaryError(day);
    expect(err.packets).toBeLessThanOrEqual(day.fed.packets / (DAY_CANDIDATES + 1));
    expect(floor.packets).toBe(Math.floor(err.packets) + day.slack!.packets);
    console.log(
      `day: ${truth.size} flows, ${dayTotal} packets; list ${n}; floor ${floor.packets} = Δ ${Math.floor(err.packets)} + slack ${day.slack!.packets} (${((100 * floor.packets) / dayTotal).toFixed(4)} % of the day); steady flows ${STEADY.map((sh, s) => `${sh * 100} %: ${at.has(hex(key(steadyItem(s)))) ? 'listed' : 'under the floor'}`).join(', ')}`,
    );
  });
});
