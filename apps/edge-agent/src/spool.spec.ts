// The spool and the durable state: order, bounds, drops counted, and sequence numbers that never repeat.
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { Spool, SpoolLockedError } from './spool';
import { AgentState, StorageCondition } from './agent-state';

let dir: string;
beforeEach(() => (dir = fs.mkdtempSync(path.join(os.tmpdir(), 'tma-ea-spool-'))));
afterEach(() => fs.rmSync(dir, { recursive: true, force: true }));

const msg = (i: number, size = 100) => Buffer.alloc(size, i);

describe('spool', () => {
  it('keeps messages durably in order across a restart', () => {
    const state = AgentState.open(dir, 'boot-a');
    const s = new Spool(dir, 1 << 20, state).open();
    for (let i = 0; i < 5; i++) s.put(msg(i));
    s.remove(s.peek()!);
    s.close();
    const again = new Spool(dir, 1 << 20, AgentState.open(dir, 'boot-a')).open();
    expect(again.depth).toBe(4);
    expect(again.bytes).toBe(400);
    const seen: number[] = [];
    for (let e = again.peek(); e; e = again.peek()) {
      seen.push(again.read(e)[0]);
      again.remove(e);
    }
    expect(seen).toEqual([1, 2, 3, 4]);
    again.put(msg(9));
    expect(path.basename(again.peek()!.file)).toBe('0000000000000005.snap'); // numbering continues
    again.close();
  });

  it('drops the oldest when full and counts every drop', () => {
    const state = AgentState.open(dir, 'boot-a');
    const s = new Spool(dir, 1000, state).open();
    for (let i = 0; i < 10; i++) expect(s.put(msg(i, 300))).toBe(i < 3 ? 0 : 1);
    expect(s.depth).toBe(3);
    expect(s.bytes).toBe(900);
    expect(s.dropped).toBe(7);
    expect(s.read(s.peek()!)[0]).toBe(7);
    s.close();
    expect(AgentState.open(dir, 'boot-a').data.spoolDrops).toBe(7);
  });

  it('never drops the entry being published: a delivered snapshot must not count as dropped', () => {
    const state = AgentState.open(dir, 'boot-a');
    const s = new Spool(dir, 1000, state).open();
    for (let i = 0; i < 3; i++) s.put(msg(i, 300));
    const sending = s.peek()!;
    expect(s.read(sending)[0]).toBe(0); // in flight
    expect(s.put(msg(3, 300))).toBe(1); // the next oldest (1) goes, not the one in flight
    expect(s.dropped).toBe(1);
    s.remove(sending); // acknowledged
    expect(
      [...Array(s.depth)].map(() => {
        const e = s.peek()!;
        const v = s.read(e)[0];
        s.remove(e);
        return v;
      }),
    ).toEqual([2, 3]);
    // Only the in-flight entry left and no room: the new message is the one dropped; a failed send releases it.
    const small = new Spool(path.join(dir, 'small'), 500, AgentState.open(path.join(dir, 'small'), 'b')).open();
    small.put(msg(5, 300));
    const e = small.peek()!;
    small.read(e);
    expect(small.put(msg(6, 300))).toBe(1);
    expect(small.read(small.peek()!)[0]).toBe(5);
    small.release();
    expect(small.put(msg(7, 300))).toBe(1); // now the oldest may go
    expect(small.read(small.peek()!)[0]).toBe(7);
    small.close();
    s.close();
  });

  it('logs a spool that stays full once, not per dropped message', () => {
    const events: string[] = [];
    const s = new Spool(dir, 1000, AgentState.open(dir, 'boot-a'), (_l, event) => events.push(event)).open();
    for (let i = 0; i < 10; i++) s.put(msg(i, 300));
    expect(s.dropped).toBe(7);
    expect(events.filter((e) => e === 'spool_full_dropped_oldest')).toHaveLength(1);
    s.close();
  });

  it('refuses a directory another live agent holds, and takes over one a dead agent left', () => {
    const s = new Spool(dir, 1 << 20, AgentState.open(dir, 'b')).open();
    expect(() => new Spool(dir, 1 << 20, AgentState.open(dir, 'b')).open()).not.toThrow(); // same process re-opening
    fs.writeFileSync(path.join(dir, 'agent.lock'), '1'); // pid 1 is alive
    expect(() => new Spool(dir, 1 << 20, AgentState.open(dir, 'b')).open()).toThrow(SpoolLockedError);
    fs.writeFileSync(path.join(dir, 'agent.lock'), '999999999'); // no such process
    expect(() => new Spool(dir, 1 << 20, AgentState.open(dir, 'b')).open()).not.toThrow();
    s.close();
  });
});

describe('storage condition', () => {
  it('logs once per outage and counts what happened during it in the recovered line', () => {
    const lines: [string, Record<string, unknown> | undefined][] = [];
    let now = 0;
    const c = new StorageCondition(
      'spool_full',
      (_l, event, fields) => lines.push([event, fields]),
      () => now,
      {
        failed: 'spool_full_dropped_oldest',
      },
    );
    for (let i = 0; i < 5; i++, now += 10_000) c.failed({ code: 'SPOOL_FULL' }, {}, 2);
    c.succeeded(); // too soon after the last failure
    now += 60_000;
    c.succeeded();
    expect(lines.map(([e]) => e)).toEqual(['spool_full_dropped_oldest', 'spool_full_recovered']);
    expect(lines[1][1]).toMatchObject({ after: 'SPOOL_FULL', failures: 10 });
  });
});

describe('agent state', () => {
  it('never hands out a sequence twice for one boot, restarts at 0 on a new boot, and keeps the agent id', () => {
    const a = AgentState.open(dir, 'boot-1');
    expect([a.takeSequence(), a.takeSequence(), a.takeSequence()]).toEqual([0, 1, 2]);
    const b = AgentState.open(dir, 'boot-1'); // a restart (or a crash) of the agent
    expect(b.takeSequence()).toBe(3);
    expect(b.data.agentId).toBe(a.data.agentId);
    const c = AgentState.open(dir, 'boot-2'); // the host rebooted
    expect(c.takeSequence()).toBe(0);
    expect(c.data.agentId).toBe(a.data.agentId);
  });

  it('skips one sequence after a process that stopped while counting, so the lost interval shows as a gap', () => {
    const events: [string, Record<string, unknown>][] = [];
    const a = AgentState.open(dir, 'boot-1');
    expect([a.takeSequence(), a.takeSequence()]).toEqual([0, 1]);
    a.setCounting(true); // attached and counting into the interval of sequence 2 ...
    const b = AgentState.open(dir, 'boot-1', (_l, event, fields) => events.push([event, fields ?? {}])); // ... killed
    b.settle(false); // its maps went with it
    expect(b.lostSequence).toBe(2);
    expect(events).toEqual([['interval_lost', expect.objectContaining({ sequence: 2 })]]);
    expect(b.takeSequence()).toBe(3);
    b.setCounting(true);
    b.setCounting(false); // a clean stop: its final snapshot holds the interval in progress
    const c = AgentState.open(dir, 'boot-1');
    c.settle(false);
    expect(c.lostSequence).toBeNull();
    expect(c.takeSequence()).toBe(4);
    c.setCounting(true);
    const d = AgentState.open(dir, 'boot-2'); // killed, then the host rebooted: a new stream from 0, nothing skipped
    d.settle(false);
    expect([d.lostSequence, d.takeSequence()]).toEqual([null, 0]);
  });

  it('skips nothing after a process killed while counting when its pinned maps were adopted', () => {
    const events: string[] = [];
    const a = AgentState.open(dir, 'boot-1');
    a.settle(false);
    expect(a.takeSequence(6)).toBe(0);
    a.setCounting(true);
    expect(a.takeSequence(7)).toBe(1); // killed after taking the sequence for generation 7, maybe before spooling
    const b = AgentState.open(dir, 'boot-1', (_l, event) => events.push(event));
    expect(b.wasCounting).toBe(true);
    b.settle(true); // the maps kept counting
    expect([b.lostSequence, events]).toEqual([null, []]);
    expect([b.pendingSequence(7), b.pendingSequence(6)]).toEqual([1, null]); // generation 7 keeps its sequence
    expect(b.takeSequence(8)).toBe(2);
    expect(b.pendingSequence(7)).toBeNull();
    // killed again, and this time the pins were of another layout: the interval in progress is lost
    const c = AgentState.open(dir, 'boot-1', (_l, event) => events.push(event));
    c.settle(false);
    expect([c.lostSequence, events, c.pendingSequence(8)]).toEqual([3, ['interval_lost'], null]);
  });

  it('refuses a corrupt state file instead of reusing sequence numbers', () => {
    fs.writeFileSync(path.join(dir, 'state.json'), '{"agentId": 1');
    expect(() => AgentState.open(dir, 'x')).toThrow(/unreadable/);
  });
});
