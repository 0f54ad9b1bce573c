import { DEFAULT_THREAT_CONFIG } from './config';
import { emptyState, evaluateWindow, type ThreatState } from './detectors';
import { BenignFleet, buildWindow, WINDOW_MS, type SimFlow } from './synthetic.fixture';
import type { Detection, WindowData } from './window';

const T0 = Date.UTC(2026, 0, 1);
const config = DEFAULT_THREAT_CONFIG;

/** Runs windows through the detectors; returns every window's detections. */
function run(windows: SimFlow[][], start = emptyState()) {
  let state: ThreatState = start;
  let before: WindowData | undefined;
  const out: Detection[][] = [];
  windows.forEach((flows, i) => {
    const w = buildWindow(T0 + i * WINDOW_MS, flows);
    const r = evaluateWindow(w, before, state, config);
    out.push(r.detections);
    state = r.state;
    before = w;
  });
  return { detections: out, state };
}

const benign = (fleet: BenignFleet, n: number) => Array.from({ length: n }, () => fleet.flows());

describe('benign Zipf mixes', () => {
  // 3 seeds × 2 exponents × 60 windows = 360 windows of 8 hosts each.
  it.each([
    [1, 1.1],
    [2, 1.1],
    [3, 1.1],
    [4, 1.5],
    [5, 1.5],
    [6, 0.8],
  ])('seed %i, Zipf s = %f: 60 windows, 0 detections', (seed, s) => {
    const fleet = new BenignFleet(seed, 8, 200, 50_000, s);
    const { detections } = run(benign(fleet, 60));
    expect(detections.flat()).toEqual([]);
  });
});

describe('attacks', () => {
  const WARM = 10;

  it('a flood to one destination from three sources: flood on that destination, the host that carried it', () => {
    const fleet = new BenignFleet(11);
    const windows = benign(fleet, WARM);
    const attack = fleet.flows();
    for (let s = 0; s < 3; s++)
      attack.push({
        host: 'host-2',
        src: `203.0.113.${s + 1}`,
        dst: '198.51.100.7',
        sport: 40_000 + s,
        dport: 80,
        proto: 17,
        packets: 60_000,
      });
    windows.push(attack);
    const { detections } = run(windows);
    expect(detections.slice(0, WARM).flat()).toEqual([]);
    const flood = detections[WARM].find((d) => d.kind === 'flood');
    expect(flood).toMatchObject({ subject: '198.51.100.7', hosts: ['host-2'] });
    const packets = flood!.evidence.find((e) => e.name === 'packets')!;
    // The lower bound never exceeds the truth (180,000) and the upper never falls under it.
    expect(packets.lower).toBeLessThanOrEqual(180_000);
    expect(packets.upper).toBeGreaterThanOrEqual(180_000);
    expect(flood!.related).toHaveLength(3);
    // The same flows are not reported again as heavy changers of their own.
    expect(detections[WARM].filter((d) => d.kind === 'heavy-change')).toEqual([]);
  });

  it('a SYN flood from 20,000 spoofed sources to one server: syn-flood on it, bounds around the truth, its host', () => {
    const fleet = new BenignFleet(13);
    const windows = benign(fleet, WARM);
    const victim = '198.51.100.9';
    const flood = (w: SimFlow[]) => {
      for (let s = 0; s < 20_000; s++)
        w.push({
          host: 'host-3',
          src: `100.${64 + (s >> 16)}.${(s >> 8) & 255}.${s & 255}`,
          dst: victim,
          sport: 1024 + (s % 60_000),
          dport: 80,
          proto: 6,
          packets: 1,
          syn: 1,
        });
      return w;
    };
    windows.push(flood(fleet.flows()), flood(fleet.flows()), fleet.flows(), fleet.flows(), fleet.flows());
    const { detections } = run(windows);
    expect(detections.slice(0, WARM).flat()).toEqual([]);
    for (const i of [WARM, WARM + 1]) {
      const d = detections[i].find((x) => x.kind === 'syn-flood');
      expect(d).toMatchObject({ subject: victim, hosts: ['host-3'] });
      const syn = d!.evidence.find((e) => e.name === 'SYN packets')!;
      expect(syn.lower).toBeLessThanOrEqual(20_000);
      expect(syn.upper).toBeGreaterThanOrEqual(20_000);
      const unmatched = d!.evidence.find((e) => e.name === 'SYNs not matched by ACKs')!;
      expect(unmatched.lower).toBeLessThanOrEqual(20_000);
      expect(unmatched.lower).toBeGreaterThan(10_000);
    }
    // nothing named syn-flood outside the attack windows, and no other address
    const others = detections
      .flat()
      .filter((d) => d.kind === 'syn-flood' && d.windowStart >= T0 + (WARM + 2) * WINDOW_MS);
    expect(others).toEqual([]);
    expect(
      new Set(
        detections
          .flat()
          .filter((d) => d.kind === 'syn-flood')
          .map((d) => d.subject),
      ),
    ).toEqual(new Set([victim]));
  });

  it('a busy service answering 30,000 short connections (SYN, SYN-ACK, 3 ACKs each) is no SYN flood', () => {
    const fleet = new BenignFleet(14);
    const windows = benign(fleet, WARM);
    const busy = fleet.flows();
    for (let s = 0; s < 3000; s++)
      busy.push({
        host: 'host-4',
        src: `100.70.${s >> 8}.${s & 255}`,
        dst: '198.51.100.10',
        sport: 2000 + s,
        dport: 443,
        proto: 6,
        packets: 40,
        syn: 10,
        synAck: 10,
      });
    windows.push(busy);
    const { detections } = run(windows);
    expect(detections.flat().filter((d) => d.kind === 'syn-flood')).toEqual([]);
  });

  it('one flow growing twentyfold to an existing destination shared with others: a heavy change (k-ary)', () => {
    const fleet = new BenignFleet(12);
    const windows = benign(fleet, WARM);
    const base = { host: 'host-1', src: '10.9.9.9', dst: '198.18.0.1', sport: 5555, dport: 443, proto: 6 };
    for (const w of windows) w.push({ ...base, packets: 1000 });
    const after = fleet.flows();
    after.push({ ...base, packets: 40_000 });
    windows.push(after);
    const strict = { ...config, floodMinShare: 0.5 }; // so the flood detector leaves this one to the change detector
    let state = emptyState();
    let before: WindowData | undefined;
    let last: Detection[] = [];
    windows.forEach((flows, i) => {
      const w = buildWindow(T0 + i * WINDOW_MS, flows);
      const r = evaluateWindow(w, before, state, strict);
      if (i < WARM) expect(r.detections).toEqual([]);
      last = r.detections;
      state = r.state;
      before = w;
    });
    const change = last.find((d) => d.kind === 'heavy-change');
    expect(change?.subject).toBe('10.9.9.9:5555 → 198.18.0.1:443/6');
    const ev = change!.evidence.find((e) => e.name === 'change (packets)')!;
    expect(ev.lower).toBeLessThanOrEqual(39_000);
    expect(ev.upper).toBeGreaterThanOrEqual(39_000);
  });

  it('a port scan (1 packet to each of 3,000 ports): port-scan on the fleet and on the scanning host, packets flat', () => {
    const fleet = new BenignFleet(13);
    const windows = benign(fleet, WARM);
    const attack = fleet.flows();
    for (let p = 1; p <= 3000; p++)
      attack.push({
        host: 'host-4',
        src: '10.0.4.1',
        dst: '198.18.1.1',
        sport: 50_000,
        dport: p,
        proto: 6,
        packets: 1,
      });
    windows.push(attack);
    const { detections } = run(windows);
    const scans = detections[WARM].filter((d) => d.kind === 'port-scan').map((d) => d.subject);
    expect(scans).toEqual(expect.arrayContaining(['fleet', 'host:host-4']));
    expect(detections[WARM].filter((d) => d.subject === 'host:host-0')).toEqual([]);
  });

  it('a superspreader (one host to 4,000 destinations): superspreader on that host', () => {
    const fleet = new BenignFleet(14);
    const windows = benign(fleet, WARM);
    const attack = fleet.flows();
    for (let d = 0; d < 4000; d++)
      attack.push({
        host: 'host-6',
        src: '10.0.6.1',
        dst: `100.64.${d >> 8}.${d & 255}`,
        sport: 50_000,
        dport: 445,
        proto: 6,
        packets: 2,
      });
    windows.push(attack);
    const { detections } = run(windows);
    const hit = detections[WARM].find((d) => d.kind === 'superspreader' && d.subject === 'host:host-6');
    expect(hit?.hosts).toEqual(['host-6']);
    const ev = hit!.evidence[0];
    expect(ev.lower).toBeLessThanOrEqual(4000 + 2000);
    expect(ev.upper).toBeGreaterThan(4000);
  });

  it('a spoofed-source flood (5,000 sources, 30 packets each, no flow a candidate): source and traffic surge', () => {
    const fleet = new BenignFleet(15);
    const windows = benign(fleet, WARM);
    const attack = fleet.flows();
    for (let s = 0; s < 5000; s++)
      attack.push({
        host: 'host-3',
        src: `100.64.${s >> 8}.${s & 255}`,
        dst: '198.51.100.9',
        sport: s,
        dport: 53,
        proto: 17,
        packets: 30,
      });
    windows.push(attack);
    const { detections } = run(windows);
    const kinds = detections[WARM].map((d) => `${d.kind} ${d.subject}`);
    expect(kinds).toEqual(
      expect.arrayContaining(['source-surge fleet', 'source-surge host:host-3', 'traffic-surge host:host-3']),
    );
    // No flow of it reached the kernel's candidate table: the per-destination flood detector cannot see it.
    expect(kinds.filter((k) => k.startsWith('flood'))).toEqual([]);
  });

  it('a sustained flood stays one alert (updated) and resolves after two quiet windows', () => {
    const fleet = new BenignFleet(16);
    const windows = benign(fleet, WARM);
    for (let k = 0; k < 3; k++) {
      const a = fleet.flows();
      a.push({
        host: 'host-0',
        src: '203.0.113.1',
        dst: '198.51.100.7',
        sport: 1,
        dport: 80,
        proto: 17,
        packets: 200_000,
      });
      windows.push(a);
    }
    windows.push(...benign(fleet, 3));
    let state = emptyState();
    let before: WindowData | undefined;
    const events: { event: string; kind: string; alertId: string; i: number }[] = [];
    windows.forEach((flows, i) => {
      const w = buildWindow(T0 + i * WINDOW_MS, flows);
      const r = evaluateWindow(w, before, state, config);
      for (const e of r.events) if (e.kind === 'flood') events.push({ ...e, i });
      state = r.state;
      before = w;
    });
    expect(events.map((e) => [e.event, e.i])).toEqual([
      ['opened', WARM],
      ['updated', WARM + 1],
      ['updated', WARM + 2],
      ['resolved', WARM + 4],
    ]);
    expect(new Set(events.map((e) => e.alertId)).size).toBe(1);
    expect(state.open.filter((a) => a.kind === 'flood')).toEqual([]);
  });

  it('state survives JSON (what is stored after each window): the same detections after a reload', () => {
    const fleet = new BenignFleet(17);
    const windows = benign(fleet, WARM);
    const { state } = run(windows);
    const a = fleet.flows();
    a.push({
      host: 'host-0',
      src: '203.0.113.1',
      dst: '198.51.100.7',
      sport: 1,
      dport: 80,
      proto: 17,
      packets: 200_000,
    });
    const w = buildWindow(T0 + WARM * WINDOW_MS, a);
    const direct = evaluateWindow(w, undefined, state, config);
    const reloaded = evaluateWindow(w, undefined, JSON.parse(JSON.stringify(state)), config);
    expect(reloaded.detections).toEqual(direct.detections);
    expect(direct.detections.map((d) => d.kind)).toContain('flood');
  });

  it('nothing alerts before the baselines are warm', () => {
    const fleet = new BenignFleet(18);
    const a = fleet.flows();
    a.push({
      host: 'host-0',
      src: '203.0.113.1',
      dst: '198.51.100.7',
      sport: 1,
      dport: 80,
      proto: 17,
      packets: 500_000,
    });
    expect(run([fleet.flows(), a]).detections.flat()).toEqual([]);
  });
});
