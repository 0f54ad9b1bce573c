// kill -9 of the agent CLI with pinned maps (root, a veth pair of its own): at every point of a snapshot where a
// crash could lose or repeat an interval, and at arbitrary moments, with traffic flowing all along. The restarted
// agent adopts the maps the kernel kept counting in: the UDP packets of the snapshots add up to the packets sent
// exactly (a snapshot printed twice carries the same sequence and the same counts), no sequence is skipped, and the
// intervals chain. Pins of another layout start fresh and report the interval lost; a clean stop leaves no pin.
import { randomBytes } from 'node:crypto';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { check, ffi, META_PIN, PIN_ROOT, u32 } from '@tma/kernel';
import { rootDescribe } from '@tma/kernel/testing';
import { agentArgs, startCli, type Cli } from './test-support/cli';
import { vethSuite } from './test-support/suite';

const run = rootDescribe('edge-agent pinned maps tests');
const KILL_AT = path.join(__dirname, 'test-support', 'kill-at.js');

interface Snap {
  agentId: string;
  bootId: string;
  sequence: number;
  intervalStartMs: number;
  intervalEndMs: number;
  totals: { protocols: { protocol: number; packets: number }[] };
}

const udpOf = (s: Snap) => Number(s.totals.protocols.find((p) => p.protocol === 17)?.packets ?? 0);

/** Complete snapshot lines of a CLI's stdout (a kill in the middle of a write leaves a torn last line). */
function snapshots(cli: Cli): Snap[] {
  const out: Snap[] = [];
  for (const line of cli.stdout().split('\n')) {
    try {
      out.push(JSON.parse(line) as Snap);
    } catch {
      // torn by the kill, or the empty tail
    }
  }
  return out;
}

/** The next sequence state.json holds (what a killed process would have used next). */
const nextSequence = (spool: string): number =>
  (JSON.parse(fs.readFileSync(path.join(spool, 'state.json'), 'utf8')) as { nextSequence: number }).nextSequence;

run('edge agent with pinned maps, killed and restarted', () => {
  const { ns, dir } = vethSuite('tma-ea-pins-');
  const pinRoot = path.join(PIN_ROOT, `test-${randomBytes(4).toString('hex')}`);

  afterAll(() => {
    ns.destroy();
    fs.rmSync(pinRoot, { recursive: true, force: true });
  });

  const args = (spool: string, pinDir: string) => agentArgs(ns.outer, '1s', spool, '--pin-dir', pinDir);
  /** The CLI, through the wrapper that kills it at `point` (TMA_TEST_KILL_AT) when given. */
  const start = (spool: string, pinDir: string, point?: string): Cli =>
    point ? startCli(args(spool, pinDir), [], { TMA_TEST_KILL_AT: point }, KILL_AT) : startCli(args(spool, pinDir));

  it('kill -9 at every point of a snapshot and at random moments: nothing lost, nothing twice, no gap', async () => {
    const spool = dir();
    const pinDir = path.join(pinRoot, 'kill');
    const points = ['flipped:3', 'sequenced:3', 'spooled:3', 'marked:3', 'random', 'random', 'random'];
    const clis: Cli[] = [start(spool, pinDir, points[0])]; // a point named: killed there by the wrapper
    await clis[0].waitFor('agent_started', 60_000);
    // traffic from the first attach on, in rounds, until told to stop
    let sent = 0;
    let sending = true;
    const traffic = (async () => {
      for (let r = 0; sending; r++) {
        await ns.send([{ sport: 45000 + (r % 50), packets: 800 }]);
        sent += 800;
      }
    })();
    const exitedAt: number[] = [];
    try {
      for (const [i, point] of points.entries()) {
        if (i > 0) clis.push(start(spool, pinDir, point === 'random' ? undefined : point));
        const cli = clis[i];
        if (point === 'random') {
          await cli.waitFor('agent_started', 60_000);
          await sleep(Math.random() * 2500);
          cli.child.kill('SIGKILL');
        }
        expect(await cli.exited).toBe(137);
        exitedAt.push(Date.now());
        expect(fs.existsSync(path.join(pinDir, META_PIN))).toBe(true); // the pins stay: the kernel counts on
      }
      const last = start(spool, pinDir);
      clis.push(last);
      await last.waitFor('agent_started', 60_000);
      while (snapshots(last).length < 2) await sleep(50);
    } finally {
      sending = false;
      await traffic;
    }
    await sleep(300); // the last packets through the veth before the final interval closes
    clis.at(-1)!.child.kill('SIGTERM');
    expect(await clis.at(-1)!.exited).toBe(0);
    expect(fs.existsSync(pinDir)).toBe(false); // a clean stop leaves nothing pinned

    // every restart adopted the maps and skipped nothing
    const starts = clis.map((c) => c.events().find((e) => e.event === 'agent_started'));
    for (const s of starts.slice(1)) if (s) expect(s).toMatchObject({ adopted: true, lostSequence: null });
    expect(starts[0]).toMatchObject({ adopted: false, lostSequence: null });
    const recovered = clis.flatMap((c) => c.events().filter((e) => e.event === 'interval_recovered'));
    // how long each restart took (the kernel counted meanwhile): the kill to the next agent_started
    const restartS = starts.slice(1).map((e, i) => ((Date.parse(String(e?.time)) - exitedAt[i]) / 1000).toFixed(1));
    // killed after the flip, after the sequence, after the print: the next process hands the copy out
    expect(recovered.length).toBeGreaterThanOrEqual(3);

    // each sequence once (a copy printed before the kill and again by the next process is the same snapshot)
    const bySeq = new Map<number, Snap>();
    let twice = 0;
    for (const s of clis.flatMap(snapshots)) {
      const seen = bySeq.get(s.sequence);
      if (seen) {
        twice++;
        expect([seen.intervalStartMs, seen.intervalEndMs, udpOf(seen)]).toEqual([
          s.intervalStartMs,
          s.intervalEndMs,
          udpOf(s),
        ]);
      } else bySeq.set(s.sequence, s);
    }
    const list = [...bySeq.values()].sort((a, b) => a.sequence - b.sequence);
    expect(new Set(list.map((s) => `${s.agentId}/${s.bootId}`)).size).toBe(1);
    expect(list.map((s) => s.sequence)).toEqual(list.map((_, i) => i)); // no gap
    for (let i = 1; i < list.length; i++) expect(list[i].intervalStartMs).toBe(list[i - 1].intervalEndMs);
    const counted = list.reduce((a, s) => a + udpOf(s), 0);
    process.stdout.write(
      `[pins] ${points.length} kills: ${sent} UDP packets sent, ${counted} counted, ${list.length} snapshots, ` +
        `${twice} printed twice, ${recovered.length} recovered; kill → restarted agent started ${restartS.join(', ')} s\n`,
    );
    expect(counted).toBe(sent);
  }, 300_000);

  it('pins of another layout: the restart starts fresh, says why, and reports the interval lost', async () => {
    const spool = dir();
    const pinDir = path.join(pinRoot, 'layout');
    const first = start(spool, pinDir);
    await first.waitFor('agent_started', 60_000);
    while (snapshots(first).length < 1) await sleep(50);
    first.child.kill('SIGKILL');
    await first.exited;
    const next = nextSequence(spool); // the sequence of the interval the kill cut
    // what an agent of another layout would have stamped
    const meta = Buffer.alloc(64);
    const fd = check('bpf_obj_get(meta)', ffi.objGet(path.join(pinDir, META_PIN)));
    check('lookup meta', ffi.lookup(fd, u32(0), meta));
    meta.writeUInt32LE((meta.readUInt32LE(8) ^ 1) >>> 0, 8);
    check('update meta', ffi.update(fd, u32(0), meta, 0n));
    ffi.closeFd(fd);

    const second = start(spool, pinDir);
    const replaced = await second.waitFor('pins_replaced', 60_000);
    expect(replaced).toMatchObject({ dir: pinDir, reason: 'layout' });
    const started = await second.waitFor('agent_started', 60_000);
    expect(started).toMatchObject({ adopted: false, lostSequence: next });
    second.child.kill('SIGTERM');
    expect(await second.exited).toBe(0);
    expect(fs.existsSync(pinDir)).toBe(false);
  }, 120_000);

  it('--pin-dir off: nothing pinned, and a kill loses the interval in progress as before', async () => {
    const spool = dir();
    const first = start(spool, 'off');
    const started = await first.waitFor('agent_started', 60_000);
    expect(started).toMatchObject({ pinDir: null, adopted: false });
    first.child.kill('SIGKILL');
    await first.exited;
    const next = nextSequence(spool);
    const second = start(spool, 'off');
    expect(await second.waitFor('agent_started', 60_000)).toMatchObject({
      adopted: false,
      lostSequence: next,
    });
    second.child.kill('SIGTERM');
    expect(await second.exited).toBe(0);
  }, 120_000);
});
