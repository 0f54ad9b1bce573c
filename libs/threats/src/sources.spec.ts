// Per-source detections from the spread sketches: a port scan, a host scan and a low-and-slow sweep whose flows are
// far too small to be candidates are named by their source, with the spread estimate bounding the truth, the hosts
// that saw them, in the window they happen (after the fleet's warm-up); benign windows around them stay quiet.
import { SpreadSketch } from '@tma/sketch';
import { DEFAULT_THREAT_CONFIG } from './config';
import { emptyState, evaluateWindow, type ThreatState } from './detectors';
import { BenignFleet, buildWindow, WINDOW_MS, type SimFlow } from './synthetic.fixture';
import type { Detection, WindowData } from './window';

const T0 = Date.UTC(2026, 0, 1);
const WARM = 6;

function run(windows: SimFlow[][], history = 0) {
  let state: ThreatState = emptyState();
  let before: WindowData | undefined;
  const ring: SpreadSketch[] = [];
  const out: Detection[][] = [];
  windows.forEach((flows, i) => {
    const w = buildWindow(T0 + i * WINDOW_MS, flows);
    if (history > 0) {
      ring.push(w.spread!);
      if (ring.length > history) ring.shift();
      const union = new SpreadSketch();
      for (const s of ring) union.merge(s);
      if (ring.length >= 2) w.spreadHistory = { union, windows: [...ring] };
    }
    const r = evaluateWindow(w, before, state, DEFAULT_THREAT_CONFIG);
    out.push(r.detections);
    state = r.state;
    before = w;
  });
  return out;
}

const value = (d: Detection, name: string) => d.evidence.find((e) => e.name.startsWith(name))!;

describe('per-source detections', () => {
  it('a port scan of 500 ports (one packet each) on one host: port-scan naming the source, bounds hold', () => {
    const fleet = new BenignFleet(21);
    const windows = Array.from({ length: WARM }, () => fleet.flows());
    const scan = fleet.flows();
    for (let p = 1; p <= 500; p++)
      scan.push({
        host: 'host-3',
        src: '203.0.113.66',
        dst: '10.0.3.1',
        sport: 50_000,
        dport: p,
        proto: 6,
        packets: 1,
      });
    windows.push(scan, fleet.flows(), fleet.flows());
    const det = run(windows);
    expect(det.slice(0, WARM).flat()).toEqual([]);
    const d = det[WARM].find((x) => x.kind === 'port-scan' && x.subject === '203.0.113.66')!;
    expect(d).toBeDefined();
    expect(d.hosts).toEqual(['host-3']);
    const ev = value(d, 'distinct destination ports of 203.0.113.66');
    expect(ev.lower!).toBeLessThanOrEqual(500);
    expect(ev.upper!).toBeGreaterThanOrEqual(500);
    expect(d.related).toEqual(['203.0.113.66']);
    // not a superspreader: one destination
    expect(det[WARM].some((x) => x.kind === 'superspreader' && x.subject === '203.0.113.66')).toBe(false);
    // the host's own port-scan detection names the scanner first
    const host = det[WARM].find((x) => x.kind === 'port-scan' && x.subject === 'host:host-3');
    if (host) expect(host.related[0]).toBe('203.0.113.66');
    expect(
      det
        .slice(WARM + 1)
        .flat()
        .filter((x) => x.subject === '203.0.113.66'),
    ).toEqual([]);
  });

  it('a host scan of 2,000 destinations seen by two hosts: superspreader naming the source and both hosts', () => {
    const fleet = new BenignFleet(22);
    const windows = Array.from({ length: WARM }, () => fleet.flows());
    const scan = fleet.flows();
    for (let j = 0; j < 2_000; j++)
      scan.push({
        host: j % 2 ? 'host-1' : 'host-5',
        src: '198.51.100.99',
        dst: `172.20.${j >> 8}.${j & 255}`,
        sport: 50_000,
        dport: 22,
        proto: 6,
        packets: 1,
      });
    windows.push(scan);
    const det = run(windows);
    expect(det.slice(0, WARM).flat()).toEqual([]);
    const d = det[WARM].find((x) => x.kind === 'superspreader' && x.subject === '198.51.100.99')!;
    expect(d).toBeDefined();
    expect(d.hosts).toEqual(['host-1', 'host-5']);
    const ev = value(d, 'distinct destinations of 198.51.100.99');
    expect(ev.lower!).toBeLessThanOrEqual(2_000);
    expect(ev.upper!).toBeGreaterThanOrEqual(2_000);
  });

  it('low and slow: 30 new hosts per window for 20 windows, never alerting per window, alerts on the union', () => {
    const fleet = new BenignFleet(23);
    const windows: SimFlow[][] = [];
    for (let i = 0; i < 24; i++) {
      const flows = fleet.flows();
      if (i >= 4)
        for (let j = 0; j < 30; j++) {
          const n = i * 30 + j;
          flows.push({
            host: `host-${n % 8}`,
            src: '192.0.2.200',
            dst: `172.21.${n >> 8}.${n & 255}`,
            sport: 50_000,
            dport: 445,
            proto: 6,
            packets: 2,
          });
        }
      windows.push(flows);
    }
    const det = run(windows, 60);
    const slow = det.map((ds) => ds.find((x) => x.kind === 'low-and-slow' && x.subject === '192.0.2.200'));
    // never a per-window scan or superspreader of that source
    expect(det.flat().filter((x) => x.subject === '192.0.2.200' && x.kind !== 'low-and-slow')).toEqual([]);
    const first = slow.findIndex((x) => x !== undefined);
    expect(first).toBeGreaterThan(4);
    const d = slow[first]!;
    const truth = (first - 3) * 30;
    const ev = value(d, 'distinct destinations of 192.0.2.200 over');
    expect(ev.lower!).toBeLessThanOrEqual(truth);
    expect(ev.upper!).toBeGreaterThanOrEqual(truth);
    expect(ev.lower!).toBeGreaterThanOrEqual(DEFAULT_THREAT_CONFIG.lowSlowMinSpread);
    expect(value(d, 'largest distinct destinations').value).toBeLessThan(DEFAULT_THREAT_CONFIG.lowSlowMaxWindowSpread);
    // once detected it stays detected while the sweep goes on
    expect(slow.slice(first).every((x) => x !== undefined)).toBe(true);
    // and nothing else of that kind in the benign fleet
    expect(det.flat().filter((x) => x.kind === 'low-and-slow' && x.subject !== '192.0.2.200')).toEqual([]);
  });
});
