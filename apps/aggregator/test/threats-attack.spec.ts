// Threat detection end to end on real parts: simulated hosts → real Kafka → aggregator (rollups, then the
// detectors once per window) → embedded chDB. A flood to one destination and a port scan from one host are alerted
// within two windows, with evidence bounding the truth (the scan also by its source, from the per-source spreads);
// nothing opens outside the attack windows.
import type { ExtraFlow } from '@tma/fleet-sim';
import { alertTopic, decodeAlert } from '@tma/schema';
import { readTopicMessages } from './support/kafka';
import { detectAll, publish, ROUNDS_PER_WINDOW, windowIndex } from './support/threats';
import { useTestBed } from './support/test-bed';

jest.setTimeout(240_000);

const VICTIM = '198.51.100.7';
const FLOOD_HOST = 'sim-host-00002';
const SCAN_HOST = 'sim-host-00004';
const attacked = useTestBed({ name: 'threats-attack', partitions: 4, hosts: 6, seed: 72, minutesAgo: 16 });

describe('threat detection end to end', () => {
  it('a flood to one destination and a port scan: alerted within two windows, with evidence and hosts', async () => {
    const sim = attacked.sim;
    // Windows 0–7 benign, 8–9 a flood from three sources on one host, 10–11 benign, 12–13 a scan, 14 benign.
    const flood = (host: string, round: number): ExtraFlow[] => {
      const w = Math.floor(round / ROUNDS_PER_WINDOW);
      if (host === FLOOD_HOST && (w === 8 || w === 9))
        return [1, 2, 3].map((s) => ({
          src: `203.0.113.${s}`,
          dst: VICTIM,
          sport: 4000 + s,
          dport: 80,
          proto: 17,
          packets: 40_000,
        }));
      if (host === SCAN_HOST && (w === 12 || w === 13))
        return Array.from({ length: 500 }, (_, i) => ({
          src: '10.0.4.5',
          dst: '198.18.7.7',
          sport: 50_000,
          dport: 1 + ((round % ROUNDS_PER_WINDOW) * 500 + i),
          proto: 6,
          packets: 1,
        }));
      return [];
    };
    sim.extraTraffic = flood;
    await publish(attacked, 15 * ROUNDS_PER_WINDOW);
    const rows = await detectAll(attacked, 15);

    const floods = rows.filter((r) => r.kind === 'flood' && r.subject === VICTIM);
    expect(floods.map((r) => [r.event, windowIndex(attacked, r)])).toEqual([
      ['opened', 8],
      ['updated', 9],
      ['resolved', 11],
    ]);
    expect(new Set(floods.map((r) => r.alert_id)).size).toBe(1);
    // Hosts of the partitions whose candidates hold the destination: the flooding host, with its partition's others.
    expect(floods[0].hosts).toContain(FLOOD_HOST);
    // Its own exact totals surged too.
    expect(
      rows.some((r) => r.kind === 'traffic-surge' && r.subject === `host:${FLOOD_HOST}` && r.event === 'opened'),
    ).toBe(true);
    const truth = 3 * 40_000 * ROUNDS_PER_WINDOW;
    const packets = (JSON.parse(floods[0].evidence) as { name: string; lower: number; upper: number }[]).find(
      (e) => e.name === 'packets',
    )!;
    expect(packets.lower).toBeLessThanOrEqual(truth);
    expect(packets.upper).toBeGreaterThanOrEqual(truth);

    const scans = rows.filter((r) => r.kind === 'port-scan' && r.event === 'opened');
    expect(scans.map((r) => r.subject)).toEqual(expect.arrayContaining(['fleet']));
    expect(scans.every((r) => [12, 13].includes(windowIndex(attacked, r)))).toBe(true);
    // The scanning host is named through its own partition's distinct ports (alone there, or with its partition).
    expect(scans.some((r) => r.subject !== 'fleet' && r.hosts.includes(SCAN_HOST))).toBe(true);
    // The per-source spreads name the scanner itself, with its distinct ports bounding the truth.
    const scanner = scans.find((r) => r.subject === '10.0.4.5')!;
    expect(scanner).toBeDefined();
    expect(scanner.hosts).toContain(SCAN_HOST);
    const ports = (JSON.parse(scanner.evidence) as { name: string; lower: number; upper: number }[]).find(
      (e) => e.name === 'distinct destination ports of 10.0.4.5',
    )!;
    const scanned = 500 * ROUNDS_PER_WINDOW;
    expect(ports.lower).toBeLessThanOrEqual(scanned);
    expect(ports.upper).toBeGreaterThanOrEqual(scanned);

    // Nothing opens outside the attack windows.
    const opened = rows.filter((r) => r.event === 'opened');
    expect(opened.every((r) => [8, 9, 12, 13].includes(windowIndex(attacked, r)))).toBe(true);

    // Every stored alert event is on the alert topic once, keyed by alert id and window, with the same content.
    const messages = await readTopicMessages(alertTopic(attacked.prefix));
    const byKey = new Map(messages.map((m) => [m.key, decodeAlert(m.value)]));
    expect(byKey.size).toBe(messages.length);
    expect([...byKey.keys()].sort()).toEqual(rows.map((r) => `${r.alert_id}:${r.window_start}`).sort());
    for (const r of rows) {
      const m = byKey.get(`${r.alert_id}:${r.window_start}`)!;
      expect([m.kind, m.subject, m.event, m.windowStartMs, m.hosts]).toEqual([
        r.kind,
        r.subject,
        r.event.toUpperCase(),
        Number(r.window_start),
        r.hosts,
      ]);
      expect(m.evidence.map((e) => [e.name, e.value])).toEqual(
        (JSON.parse(r.evidence) as { name: string; value: number }[]).map((e) => [e.name, e.value]),
      );
    }
    const floodOpened = byKey.get(`${floods[0].alert_id}:${floods[0].window_start}`)!;
    expect(floodOpened.evidence.find((e) => e.name === 'packets')).toMatchObject({
      lower: packets.lower,
      upper: packets.upper,
    });
  });
});
