// A full (or failing) disk under the spool: the agent keeps counting, drops the oldest snapshots (or the new one when
// nothing is left to free), counts every drop, retries its state, and spools again once space is back. Real
// file systems: a 256 KiB tmpfs per test (root).
import { execFileSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { buildObject, rootDescribe, VethNs } from '@tma/kernel/testing';
import { decode } from '@tma/schema';
import { AgentState } from './agent-state';
import type { Logger } from './log';
import { Spool } from './spool';
import { ROOT, startCli } from './test-support/cli';
import { closedPort } from './test-support/kafka';

const run = rootDescribe('edge-agent disk-full tests');

/** Fills the file system of `dir` until it refuses (ENOSPC); returns the filler's path. */
function fill(dir: string): string {
  const file = path.join(dir, 'filler');
  const fd = fs.openSync(file, 'w');
  try {
    const block = Buffer.alloc(4096, 1);
    for (;;) fs.writeSync(fd, block);
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code !== 'ENOSPC') throw e;
  } finally {
    fs.closeSync(fd);
  }
  return file;
}

const snaps = (dir: string) =>
  fs
    .readdirSync(dir)
    .filter((n) => n.endsWith('.snap'))
    .sort();

run('spool and state on a full disk', () => {
  let mnt: string;
  beforeEach(() => {
    mnt = fs.mkdtempSync(path.join(os.tmpdir(), 'tma-ea-full-'));
    execFileSync('mount', ['-t', 'tmpfs', '-o', 'size=256k', 'tmpfs', mnt]);
  });
  afterEach(() => {
    try {
      execFileSync('umount', [mnt]);
    } finally {
      fs.rmSync(mnt, { recursive: true, force: true });
    }
  });

  it('drops the oldest when the disk refuses a write, then the new one when nothing is left, and resumes', () => {
    const events: string[] = [];
    const log: Logger = (_level, event) => events.push(event);
    const state = AgentState.open(mnt, 'boot-a', log);
    const spool = new Spool(mnt, 64 << 20, state, log).open(); // the byte cap is far above the disk's size
    for (let i = 0; i < 20; i++) expect(() => spool.put(Buffer.alloc(40_000, i))).not.toThrow();
    expect(spool.depth).toBeGreaterThan(0);
    expect(spool.depth).toBeLessThan(10); // what fits on the disk
    expect(spool.dropped).toBe(20 - spool.depth);
    const kept: number[] = [];
    for (let e = spool.peek(); e; e = spool.peek()) {
      kept.push(spool.read(e)[0]);
      spool.remove(e);
    }
    expect(kept).toEqual([...Array(kept.length).keys()].map((k) => 20 - kept.length + k)); // the newest, in order
    expect(snaps(mnt)).toEqual([]);
    expect(events.filter((e) => e === 'spool_write_failed')).toHaveLength(1); // once, not per write

    // Nothing left to free: the new message itself is dropped and counted, the state stays in memory.
    const filler = fill(mnt);
    const before = spool.dropped;
    expect(spool.put(Buffer.alloc(40_000, 77))).toBe(1);
    expect(spool.put(Buffer.alloc(40_000, 78))).toBe(1);
    expect(() => state.takeSequence()).not.toThrow();
    expect(spool.dropped).toBe(before + 2);
    expect(spool.depth).toBe(0);
    expect(state.durable).toBe(false);
    expect(spool.publishable()).toBe(false); // sequences not on disk yet: nothing may leave
    expect(events.filter((e) => e === 'state_save_failed')).toHaveLength(1);

    // Space is back: the next message is stored and the state (with every drop) reaches the disk.
    fs.rmSync(filler);
    expect(spool.put(Buffer.alloc(40_000, 79))).toBe(0);
    expect(spool.depth).toBe(1);
    expect(state.durable).toBe(true);
    const onDisk = JSON.parse(fs.readFileSync(path.join(mnt, 'state.json'), 'utf8'));
    expect(onDisk.spoolDrops).toBe(before + 2);
    expect(onDisk.nextSequence).toBe(state.data.nextSequence);
    spool.close();
  });

  it('a write the disk takes only in part is refused, never stored torn', () => {
    const state = AgentState.open(mnt, 'boot-a');
    const spool = new Spool(mnt, 64 << 20, state).open();
    const gap = path.join(mnt, 'gap');
    fs.writeFileSync(gap, Buffer.alloc(12_288));
    fill(mnt);
    fs.rmSync(gap); // 12 KiB free: part of a 40 kB message fits
    expect(spool.put(Buffer.alloc(40_000, 1))).toBe(1); // dropped (nothing older to free), counted
    expect(spool.depth).toBe(0);
    expect(snaps(mnt)).toEqual([]);
    expect(fs.readdirSync(mnt).filter((n) => n.endsWith('.tmp'))).toEqual([]);
    spool.close();
  });

  it('a disk the spool itself fills, so the state cannot be saved: the oldest are dropped (counted) until it can', () => {
    const state = AgentState.open(mnt, 'boot-a');
    const spool = new Spool(mnt, 64 << 20, state).open();
    for (let i = 0; i < 20; i++) spool.put(Buffer.alloc(40_000, i));
    fill(mnt);
    state.takeSequence(); // a sequence handed out that the disk does not hold
    expect(state.saveFailure).toBe('ENOSPC');
    const depth = spool.depth;
    const dropped = spool.dropped;
    expect(depth).toBeGreaterThan(1);
    // The filler stays: only dropping spooled snapshots can make room, and the spool does so for the state.
    expect(spool.publishable()).toBe(true);
    expect(state.durable).toBe(true);
    expect(spool.depth).toBeLessThan(depth);
    expect(spool.dropped).toBe(dropped + depth - spool.depth);
    expect(JSON.parse(fs.readFileSync(path.join(mnt, 'state.json'), 'utf8')).spoolDrops).toBe(spool.dropped);
    const kept: number[] = [];
    for (let e = spool.peek(); e; e = spool.peek()) {
      kept.push(spool.read(e)[0]);
      spool.remove(e);
    }
    expect(kept).toEqual([...Array(kept.length).keys()].map((k) => 20 - kept.length + k)); // the oldest went first
    spool.close();
  });

  it('an agent whose spool disk fills up keeps running, counts the drops and spools again once space is back', async () => {
    buildObject();
    execFileSync('npx', ['tsc', '-b', path.join(ROOT, 'apps', 'edge-agent')], { cwd: ROOT, stdio: 'pipe' });
    const ns = new VethNs().create();
    const spoolDir = path.join(mnt, 'spool');
    try {
      const cli = startCli(
        ['--interfaces', ns.outer, '--interval', '1s', '--host-id', 'full-host', '--metrics-port', '0'],
        [],
        // an unreachable broker: every snapshot stays in the spool
        { TMA_KAFKA_BROKERS: `127.0.0.1:${await closedPort()}`, TMA_AGENT_SPOOL_DIR: spoolDir },
      );
      await cli.waitFor('agent_started');
      const send = ns.send([{ sport: 45000, packets: 3000 }], 200); // some traffic: snapshots of a few KiB
      while (snaps(spoolDir).length < 2) await sleep(100);
      await send;
      const filler = fill(mnt);
      await cli.waitFor('spool_write_failed', 10_000);
      await sleep(3500); // more intervals on the full disk
      expect(cli.child.exitCode).toBeNull();
      const full = cli.events().filter((e) => e.event === 'snapshot').length;
      expect(cli.events().filter((e) => e.event === 'spool_write_failed')).toHaveLength(1);

      fs.rmSync(filler);
      const depth = snaps(spoolDir).length;
      for (const until = Date.now() + 10_000; snaps(spoolDir).length < depth + 2 && Date.now() < until;)
        await sleep(100);
      expect(snaps(spoolDir).length).toBeGreaterThanOrEqual(depth + 2); // spooling again
      expect(cli.events().filter((e) => e.event === 'snapshot').length).toBeGreaterThan(full);
      cli.child.kill('SIGTERM');
      expect(await cli.exited).toBe(0);
      const files = snaps(spoolDir);
      const last = decode(fs.readFileSync(path.join(spoolDir, files.at(-1)!))).snapshot;
      expect(last.spoolDrops).toBeGreaterThan(0); // the drops travel with the next snapshots
      const state = JSON.parse(fs.readFileSync(path.join(spoolDir, 'state.json'), 'utf8'));
      expect(state.nextSequence).toBe(last.sequence + 1);
    } finally {
      ns.destroy();
    }
  }, 90_000);
});
