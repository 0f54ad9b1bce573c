// The whole agent on a real kernel: in-process against the real broker, and the CLI as users (and the testbed) run
// it: --once --stdout, configuration errors, kill -9 and restart (pinned: the program adopted; not pinned: no stale
// programs), interfaces that appear later.
import { execFileSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { PIN_ROOT, programNameById, removePinDir } from '@tma/kernel';
import { OBJECT_PATH, rootDescribe, udpFrameBytes } from '@tma/kernel/testing';
import { decode, snapshotTopic } from '@tma/schema';
import { decodeCountMinSketch, expandHashSeed, PUBLIC_HASH_KEY, useHashSeed } from '@tma/sketch';
import { Agent } from './agent';
import { loadConfig } from './config';
import { silentLogger } from './log';
import { agentArgs, startCli } from './test-support/cli';
import { vethSuite } from './test-support/suite';
import { closedPort, consume, deleteTopic, testPrefix } from './test-support/kafka';

const run = rootDescribe('edge-agent kernel tests');

async function gone(progIds: number[], timeoutMs = 5000): Promise<boolean> {
  const until = Date.now() + timeoutMs;
  while (Date.now() < until) {
    if (progIds.every((id) => programNameById(id) === null)) return true;
    await sleep(50);
  }
  return false;
}

const tcFilters = (dev: string, dir: 'ingress' | 'egress') =>
  execFileSync('tc', ['filter', 'show', 'dev', dev, dir], { encoding: 'utf8' });

run('edge agent on a veth pair', () => {
  const { ns, dir } = vethSuite('tma-ea-agent-');
  const topics: string[] = [];

  afterAll(async () => {
    ns.destroy();
    for (const t of topics) await deleteTopic(t);
  });

  it('publishes one snapshot per interval to Kafka whose totals add up to the packets sent, and serves /metrics; hashes with its configured seed', async () => {
    const prefix = testPrefix();
    topics.push(snapshotTopic(prefix));
    const metricsPort = await closedPort();
    const { config } = loadConfig(
      [
        '--interfaces',
        ns.outer,
        '--interval',
        '1s',
        '--host-id',
        'spec-host',
        '--spool-dir',
        dir(),
        '--metrics-port',
        String(metricsPort),
        '--metrics-host',
        '127.0.0.1',
        '--topic-prefix',
        prefix,
      ],
      { ...process.env, TMA_HASH_SEED: '0x5ec2e7000000a9e7' },
    );
    const seed = expandHashSeed(0x5ec2e7000000a9e7n);
    const agent = new Agent({ ...config, objectPath: OBJECT_PATH }, { log: silentLogger });
    await agent.start();
    const flows = [
      { sport: 43000, packets: 4000 },
      { sport: 43001, packets: 1000 },
    ];
    await ns.send(flows, 200);
    let metrics = '';
    for (const until = Date.now() + 20_000; Date.now() < until; await sleep(250)) {
      metrics = await (await fetch(`http://127.0.0.1:${metricsPort}/metrics`)).text();
      if (
        Number(/^tma_agent_packets_total (\d+)/m.exec(metrics)?.[1]) >= 5000 &&
        /^tma_agent_snapshots_sent_total [1-9]/m.test(metrics)
      )
        break;
    }
    await agent.stop();

    const n = JSON.parse(fs.readFileSync(path.join(dir(), 'state.json'), 'utf8')).nextSequence as number;
    expect(n).toBeGreaterThanOrEqual(2);
    const got = (await consume(snapshotTopic(prefix), n)).map((m) => ({ key: m.key, s: decode(m.value).snapshot }));
    expect(got.every((g) => g.key === 'spec-host')).toBe(true);
    expect(got.map((g) => g.s.sequence)).toEqual([...Array(n).keys()]);
    const udp = got.flatMap((g) => g.s.totals.protocols.filter((p) => p.protocol === 17));
    expect(udp.reduce((a, p) => a + p.packets, 0)).toBe(5000);
    expect(udp.reduce((a, p) => a + p.bytes, 0)).toBe(5000 * udpFrameBytes(200));
    for (let i = 1; i < n; i++) expect(got[i].s.intervalStartMs).toBe(got[i - 1].s.intervalEndMs); // no gaps
    expect(new Set(got.map((g) => g.s.agentId)).size).toBe(1);
    expect(got[0].s.interfaces.map((i) => `${i.ifname}/${i.hook}/${i.direction}`)).toEqual([
      `${ns.outer}/TC/INGRESS`,
      `${ns.outer}/TC/EGRESS`,
    ]);
    const heavy = got.flatMap((g) => g.s.candidates).filter((c) => ((c.key[32] << 8) | c.key[33]) === 43000);
    expect(heavy.length).toBeGreaterThan(0);
    // the kernel and the snapshot's identity use the configured seed: the heavy flow's CMS cells are where that
    // seed's key puts them, not where the public one would
    expect(new Set(got.map((g) => g.s.sketchSpec.seedHash))).toEqual(new Set([seed.seedHash]));
    const withHeavy = got.find((g) => g.s.candidates.some((c) => c.key === heavy[0].key))!.s;
    const estimate = (key: Uint8Array) =>
      decodeCountMinSketch(withHeavy.cmsPackets, { seedHash: seed.seedHash }).estimateKey(key);
    expect(estimate(heavy[0].key)).toBeGreaterThanOrEqual(heavy[0].packets);
    useHashSeed(PUBLIC_HASH_KEY);
    expect(estimate(heavy[0].key)).toBeLessThan(heavy[0].packets);

    expect(metrics).toMatch(/^tma_agent_packets_total \d+/m);
    expect(Number(/^tma_agent_packets_total (\d+)/m.exec(metrics)![1])).toBeGreaterThanOrEqual(5000);
    expect(metrics).toMatch(/^tma_agent_snapshots_sent_total [1-9]/m);
    expect(metrics).toMatch(/^tma_agent_read_seconds_count [1-9]/m);
    // per interface and direction: the datagrams came in on the attached interface
    const ingress = new RegExp(
      `^tma_agent_interface_packets_total\\{interface="${ns.outer}",direction="ingress"\\} (\\d+)`,
      'm',
    );
    expect(Number(ingress.exec(metrics)?.[1])).toBeGreaterThan(0);
    expect(metrics).toMatch(
      new RegExp(`^tma_agent_interface_bytes_total\\{interface="${ns.outer}",direction="ingress"\\} [1-9]`, 'm'),
    );
    expect(metrics).toMatch(/^tma_agent_spool_depth \d/m);
    expect(metrics).toMatch(/^tma_agent_process_resident_memory_bytes \d/m);
  }, 120_000);

  it('--once --stdout prints one decoded snapshot counting exactly the packets sent', async () => {
    const cli = startCli(agentArgs(ns.outer, '3s', dir(), '--host-id', 'cli-host', '--once'));
    await cli.waitFor('agent_started');
    await ns.send([{ sport: 44000, packets: 2500 }], 64);
    expect(await cli.exited).toBe(0);
    const lines = cli.stdout().trim().split('\n');
    expect(lines).toHaveLength(1);
    const s = JSON.parse(lines[0]);
    expect(s).toMatchObject({ hostId: 'cli-host', sequence: 0, samplingRate: 1 });
    expect(s.totals.protocols.find((p: { protocol: number }) => p.protocol === 17)).toEqual({
      protocol: 17,
      packets: 2500,
      bytes: 2500 * udpFrameBytes(64),
    });
    expect(s.candidates[0].flow).toEqual({
      src: ns.innerAddr,
      dst: ns.outerAddr,
      sport: 44000,
      dport: 9999,
      proto: 17,
    });
    expect(typeof s.cmsPackets).toBe('string'); // base64 sketch blobs
    // heavy prefixes: every IP packet here has its source in the pair's /24 (the flow is a candidate, so its
    // packets reach the prefix counts through the reader's fold), and that /24 is listed with bounds around them
    expect(s.prefixCounts).toBe(true);
    const ip = s.totals.protocols.reduce((n: number, p: { packets: number }) => n + p.packets, 0);
    const [a, b, c] = ns.outerAddr.split('.').map(Number);
    const hex24 = [a, b, c, 0].map((x) => x.toString(16).padStart(2, '0')).join('');
    const src24 = s.heavyPrefixes.find(
      (p: { side: number; family: number; length: number; prefix: string }) =>
        p.side === 0 && p.family === 4 && p.length === 24 && p.prefix === hex24,
    );
    expect(src24).toBeDefined();
    expect([src24.sincePackets <= ip, ip <= src24.packets]).toEqual([true, true]);
    expect(src24.sincePackets).toBeGreaterThanOrEqual(2500 - 32); // exact since the flow entered the candidates
  }, 60_000);

  it('exits with code 2 and a clear message on bad configuration', async () => {
    const cli = startCli(['--interval', '0s']);
    expect(await cli.exited).toBe(2);
    expect(cli.stderr()).toContain('interval (flag --interval): 0 ms is outside 1s..300s');
    const missing = startCli(agentArgs('tma-no-such0', '10s', dir()));
    expect(await missing.exited).toBe(1);
    expect(missing.stderr()).toContain('interface tma-no-such0 does not exist');
  }, 60_000);

  it('with --pin-dir off, leaves no program behind after kill -9 with tcx links, and detaches on SIGTERM', async () => {
    const args = agentArgs(ns.outer, '10s', dir(), '--pin-dir', 'off');
    const first = startCli(args);
    const ids = (await first.waitFor('agent_started')).programIds as number[];
    expect(ids.map((id) => programNameById(id))).toEqual(['tma_tc', 'tma_tc_eg']);
    first.child.kill('SIGKILL');
    await first.exited;
    expect(await gone(ids)).toBe(true);
    const second = startCli(args);
    const ids2 = (await second.waitFor('agent_started')).programIds as number[];
    second.child.kill('SIGTERM');
    expect(await second.exited).toBe(0);
    expect(await gone(ids2)).toBe(true);
  }, 60_000);

  for (const tcAttach of ['auto', 'netlink']) {
    it(`pinned (${tcAttach}): after kill -9 the program stays on, the next start swaps in its own, SIGTERM removes all`, async () => {
      const pinDir = path.join(PIN_ROOT, `test-${path.basename(dir())}`);
      const args = agentArgs(ns.outer, '10s', dir(), '--tc-attach', tcAttach, '--pin-dir', pinDir);
      try {
        const first = startCli(args);
        const ids = (await first.waitFor('agent_started')).programIds as number[];
        first.child.kill('SIGKILL');
        await first.exited;
        expect(ids.map((id) => programNameById(id))).toEqual(['tma_tc', 'tma_tc_eg']); // still counting
        const second = startCli(args);
        await second.waitFor('maps_adopted');
        const started = await second.waitFor('agent_started');
        expect(started).toMatchObject({ adopted: true, lostSequence: null, pinDir });
        expect(second.events().some((e) => e.event === 'stale_programs_removed')).toBe(false); // replaced in place
        expect(await gone(ids)).toBe(true); // the old programs went with the swap
        if (tcAttach === 'netlink') expect(tcFilters(ns.outer, 'ingress').match(/handle 0x544d41/g)).toHaveLength(1);
        second.child.kill('SIGTERM');
        expect(await second.exited).toBe(0);
        expect(await gone(started.programIds as number[])).toBe(true);
        expect(fs.existsSync(pinDir)).toBe(false);
        expect(tcFilters(ns.outer, 'ingress')).not.toContain('tma_tc');
      } finally {
        removePinDir(pinDir);
      }
    }, 60_000);
  }

  it('removes the netlink TC filters a killed agent left, on the next start (nothing pinned)', async () => {
    const args = agentArgs(ns.outer, '10s', dir(), '--tc-attach', 'netlink', '--pin-dir', 'off');
    const first = startCli(args);
    const ids = (await first.waitFor('agent_started')).programIds as number[];
    first.child.kill('SIGKILL');
    await first.exited;
    expect(tcFilters(ns.outer, 'ingress')).toContain('tma_tc'); // netlink filters outlive the process
    expect(tcFilters(ns.outer, 'egress')).toContain('tma_tc');
    const second = startCli(args);
    expect(await second.waitFor('stale_programs_removed')).toMatchObject({ ifname: ns.outer, removed: 2 });
    await second.waitFor('agent_started');
    expect(await gone(ids)).toBe(true);
    expect(tcFilters(ns.outer, 'ingress').match(/handle 0x544d41/g)).toHaveLength(1);
    second.child.kill('SIGTERM');
    expect(await second.exited).toBe(0);
    expect(tcFilters(ns.outer, 'ingress')).not.toContain('tma_tc');
    expect(tcFilters(ns.outer, 'egress')).not.toContain('tma_tc');
  }, 60_000);

  it('inside a namespace (nsenter --net), attaches to every interface that is up and to ones that appear later', async () => {
    const cli = startCli(
      ['--interval', '10s', '--poll-interval', '200ms', '--stdout', '--metrics-port', '0', '--spool-dir', dir()],
      ['nsenter', `--net=/run/netns/${ns.netns}`],
    );
    const started = await cli.waitFor('agent_started');
    expect(started.interfaces).toEqual([`${ns.inner}/TC/INGRESS/link`, `${ns.inner}/TC/EGRESS/link`]); // not lo
    ns.inNs('ip', 'link', 'add', 'late0', 'type', 'veth', 'peer', 'name', 'late1');
    ns.inNs('ip', 'link', 'set', 'late0', 'up');
    const attached = await cli.waitFor('interface_attached', 10_000);
    expect(attached).toMatchObject({ ifname: 'late0' });
    ns.inNs('ip', 'link', 'del', 'late0');
    await cli.waitFor('interface_gone', 10_000);
    cli.child.kill('SIGTERM');
    expect(await cli.exited).toBe(0);
    const lines = cli.stdout().trim().split('\n'); // the final partial interval is printed on stop
    expect(lines.length).toBe(1);
  }, 60_000);
});
