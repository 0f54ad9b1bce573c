// Pinned maps and links on a real kernel (a veth pair in a namespace of our own): a process that goes without
// closing (what kill -9 leaves) keeps counting in the kernel, the next load adopts the maps and swaps its programs in
// place, and the counts of before, during and after add up exactly; a stamp of another layout or configuration
// starts fresh and takes the old programs off the interface; a clean close leaves nothing pinned or attached.
import { execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { BPF_TCX_EGRESS, BPF_TCX_INGRESS, check, ffi, programNameById, tcxProgramIds, u32 } from './libbpf';
import { TmaKernel, type TcAttachMode } from './loader';
import { META_PIN, PIN_ROOT, removePinDir } from './pins';
import { EpochReader } from './reader';
import { buildObject, OBJECT_PATH, rootDescribe, VethNs } from './testing';

const run = rootDescribe('kernel pin tests');

run('pinned maps and links on a veth pair', () => {
  const ns = new VethNs();
  const root = path.join(PIN_ROOT, `test-${randomBytes(4).toString('hex')}`);
  let n = 0;
  let dir = '';
  const open: TmaKernel[] = [];

  beforeAll(() => {
    buildObject();
    ns.create();
  });
  beforeEach(() => (dir = path.join(root, String(n++))));
  afterEach(() => {
    for (const k of open.splice(0)) k.close();
    removePinDir(dir);
  });
  afterAll(() => {
    ns.destroy();
    fs.rmSync(root, { recursive: true, force: true });
  });

  const load = (opts: { sampleRate?: number } = {}) => {
    const k = TmaKernel.load({ objectPath: OBJECT_PATH, hook: 'tc', pinDir: dir, ...opts });
    open.push(k);
    return k;
  };
  const abandon = (k: TmaKernel) => {
    open.splice(open.indexOf(k), 1);
    k.abandon();
  };
  /** UDP packets of every copy, read (flip, read, clear) twice so nothing stays behind. */
  const udp = (reader: EpochReader) => reader.read().protoPackets[17] + reader.read().protoPackets[17];
  /** Names of the programs on the interface, tcx hooks then netlink filters of ours (handle 0x544d41). */
  const programs = (): string[] => {
    const tcx = [BPF_TCX_INGRESS, BPF_TCX_EGRESS].flatMap((t) => tcxProgramIds(ns.ifindex, t));
    const filters = ['ingress', 'egress'].flatMap((d) =>
      [
        ...execFileSync('tc', ['filter', 'show', 'dev', ns.outer, d], { encoding: 'utf8' }).matchAll(
          /handle 0x544d41 (tma_\w+)/g,
        ),
      ].map((m) => m[1]),
    );
    return [...tcx.map((id) => programNameById(id) ?? `gone ${id}`), ...filters].sort();
  };
  /** The programs once a removal settled: a link whose last pin went is released after an RCU grace period. */
  const settled = async (want: string[]): Promise<string[]> => {
    for (let i = 0; i < 200 && JSON.stringify(programs()) !== JSON.stringify(want); i++) await sleep(50);
    return programs();
  };

  for (const mode of ['tcx', 'netlink'] as TcAttachMode[]) {
    it(`(${mode}) a process gone without closing: the kernel counts on, the next load adopts, nothing lost or twice`, async () => {
      const first = load();
      expect(first.pinOutcome).toMatchObject({ adopted: false, reason: 'none' });
      first.attach(ns.ifindex, ns.outer, { tcAttach: mode });
      const r1 = new EpochReader(first);
      r1.read(); // the copies start empty, generation 1
      await ns.send([{ sport: 43000, packets: 3000 }]);
      const gen = r1.generation;
      abandon(first); // what kill -9 leaves: pins (and netlink filters) only
      expect(fs.readdirSync(dir).sort()).toEqual(
        mode === 'tcx'
          ? [`link_${ns.ifindex}_egress`, `link_${ns.ifindex}_ingress`, META_PIN, 'ctl', 'ifs', 'state', 'syn'].sort()
          : [META_PIN, 'ctl', 'ifs', 'state', 'syn'].sort(),
      );
      expect(await settled(['tma_tc', 'tma_tc_eg'])).toEqual(['tma_tc', 'tma_tc_eg']); // still on the interface
      await ns.send([{ sport: 43001, packets: 2000 }]); // nobody running: counted by the kernel alone

      const second = load();
      expect(second.pinOutcome).toMatchObject({ adopted: true });
      const made = second.attach(ns.ifindex, ns.outer, { tcAttach: mode });
      expect(made.map((a) => a.adopted)).toEqual([true, true]);
      expect(second.dropUnclaimedPins()).toEqual([]);
      const r2 = new EpochReader(second);
      expect(r2.generation).toBe(gen); // the epoch went on where it was
      await ns.send([{ sport: 43002, packets: 1000 }]);
      expect(udp(r2)).toBe(6000);
      // one program of ours per direction: the old ones were replaced in place, not doubled
      expect(await settled(['tma_tc', 'tma_tc_eg'])).toEqual(['tma_tc', 'tma_tc_eg']);
      second.close();
      open.splice(open.indexOf(second), 1);
      expect(fs.existsSync(dir)).toBe(false);
      expect(await settled([])).toEqual([]);
    }, 60_000);
  }

  it('(XDP) the pinned link keeps its mode and is adopted in place; ingress totals exact across the gap', async () => {
    const first = TmaKernel.load({ objectPath: OBJECT_PATH, hook: 'xdp', pinDir: dir });
    open.push(first);
    const [a] = first.attach(ns.ifindex, ns.outer, { xdpMode: 'generic' });
    expect(a).toMatchObject({ xdpMode: 'generic', pin: path.join(dir, `link_${ns.ifindex}_xdp_generic`) });
    new EpochReader(first).read();
    await ns.send([{ sport: 43020, packets: 1500 }]);
    abandon(first);
    await ns.send([{ sport: 43021, packets: 900 }]);
    const second = TmaKernel.load({ objectPath: OBJECT_PATH, hook: 'xdp', pinDir: dir });
    open.push(second);
    const [b] = second.attach(ns.ifindex, ns.outer, { xdpMode: 'auto' });
    expect(b).toMatchObject({ adopted: true, xdpMode: 'generic' });
    await ns.send([{ sport: 43022, packets: 600 }]);
    expect(udp(new EpochReader(second))).toBe(3000);
  }, 60_000);

  it('pins of another layout start fresh (their programs leave the interface), another configuration too', async () => {
    const first = load();
    first.attach(ns.ifindex, ns.outer, { tcAttach: 'tcx' });
    new EpochReader(first).read();
    await ns.send([{ sport: 43010, packets: 500 }]);
    abandon(first);
    // an older agent's stamp: another layout
    const meta = Buffer.alloc(64);
    const fd = check('bpf_obj_get(meta)', ffi.objGet(path.join(dir, META_PIN)));
    check('lookup meta', ffi.lookup(fd, u32(0), meta));
    meta.writeUInt32LE((meta.readUInt32LE(8) ^ 1) >>> 0, 8);
    check('update meta', ffi.update(fd, u32(0), meta, 0n));
    ffi.closeFd(fd);

    const second = load();
    expect(second.pinOutcome).toMatchObject({ adopted: false, reason: 'layout' });
    // the old links went with their pins: nothing of the old object on the interface until we attach
    expect(await settled([])).toEqual([]);
    second.attach(ns.ifindex, ns.outer, { tcAttach: 'tcx' });
    const r2 = new EpochReader(second);
    await ns.send([{ sport: 43011, packets: 700 }]);
    expect(udp(r2)).toBe(700); // fresh maps: the old counts are not here
    abandon(second);

    const third = load({ sampleRate: 2 }); // another configuration of the programs
    expect(third.pinOutcome).toMatchObject({ adopted: false, reason: 'config' });
    third.attach(ns.ifindex, ns.outer, { tcAttach: 'tcx' });
    expect(await settled(['tma_tc', 'tma_tc_eg'])).toEqual(['tma_tc', 'tma_tc_eg']);
  }, 60_000);

  it('a clean close leaves no pin and nothing attached; an adopting start drops the links of interfaces it skips', async () => {
    const first = load();
    first.attach(ns.ifindex, ns.outer, { tcAttach: 'tcx' });
    expect(fs.existsSync(path.join(dir, META_PIN))).toBe(true);
    abandon(first);
    const second = load();
    expect(second.adopted).toBe(true);
    // attached nowhere this time: the links left go, and with them the programs on the interface
    expect(
      second
        .dropUnclaimedPins()
        .map((p) => path.basename(p))
        .sort(),
    ).toEqual([`link_${ns.ifindex}_egress`, `link_${ns.ifindex}_ingress`]);
    expect(await settled([])).toEqual([]);
    second.close();
    open.splice(open.indexOf(second), 1);
    expect(fs.existsSync(dir)).toBe(false);
  }, 60_000);
});
