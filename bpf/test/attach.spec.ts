// The programs on real interfaces: a veth pair between two network namespaces this test creates, TC on both
// directions and XDP on ingress, real UDP datagrams through them (echoed back), exact counts, and clean detach.
import { spawn, spawnSync } from 'node:child_process';
import { CMS_WIDTH } from '@tma/kernel';
import {
  attachTc,
  attachXdp,
  buildObject,
  detachTc,
  detachXdp,
  inNetns,
  queryTc,
  rootDescribe,
  TestKernel,
} from '@tma/kernel/testing';
import { expectedIndices, flowKey } from './reference';

const run = rootDescribe('bpf tests');
const NS_A = `tma-a-${process.pid}`;
const NS_B = `tma-b-${process.pid}`;
const sh = (cmd: string) => {
  const r = spawnSync('bash', ['-c', cmd], { encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`${cmd}: ${r.stderr}`);
  return r.stdout;
};
const SENDS = 25;
const NODE = process.execPath;
/** A UDP echo server in A (port 9999) and a client in B sending 25 datagrams from one socket, one at a time. */
const ECHO = `const s=require('dgram').createSocket('udp4');let n=0;s.on('message',(m,r)=>s.send(m,r.port,r.address,()=>{if(++n===${SENDS})s.close()}));s.bind(9999,'10.213.0.1',()=>process.stdout.write('ready\\n'));setTimeout(()=>process.exit(3),20000).unref()`;
const CLIENT = `const s=require('dgram').createSocket('udp4');let n=0;const go=()=>s.send('x',9999,'10.213.0.1');s.on('message',()=>{if(++n===${SENDS}){s.close()}else go()});s.bind(0,'10.213.0.2',go);setTimeout(()=>process.exit(3),20000).unref()`;
async function send(): Promise<void> {
  const server = spawn('ip', ['netns', 'exec', NS_A, NODE, '-e', ECHO], { stdio: ['ignore', 'pipe', 'inherit'] });
  await new Promise((resolve, reject) => {
    server.stdout.once('data', resolve);
    server.once('exit', (code) => reject(new Error(`echo server exited ${code}`)));
  });
  const r = spawnSync('ip', ['netns', 'exec', NS_B, NODE, '-e', CLIENT], { encoding: 'utf8', timeout: 20000 });
  server.kill();
  if (r.status !== 0) throw new Error(`UDP client failed (${r.status}): ${r.stderr}`);
}

run('attached to a veth pair in private namespaces', () => {
  let tma: TestKernel;
  beforeAll(() => {
    buildObject();
    sh(`ip netns add ${NS_A} && ip netns add ${NS_B}`);
    sh(`ip -n ${NS_A} link add veth0 type veth peer name veth1 netns ${NS_B}`);
    for (const [ns, dev, addr] of [
      [NS_A, 'veth0', '10.213.0.1'],
      [NS_B, 'veth1', '10.213.0.2'],
    ]) {
      sh(`ip netns exec ${ns} sysctl -qw net.ipv6.conf.all.disable_ipv6=1 net.ipv6.conf.default.disable_ipv6=1`);
      sh(`ip -n ${ns} addr add ${addr}/24 dev ${dev} && ip -n ${ns} link set ${dev} up && ip -n ${ns} link set lo up`);
    }
    // static neighbours: no ARP in the counts
    sh(`ip -n ${NS_A} neigh add 10.213.0.2 lladdr $(ip -n ${NS_B} -br link show veth1 | awk '{print $3}') dev veth0`);
    sh(`ip -n ${NS_B} neigh add 10.213.0.1 lladdr $(ip -n ${NS_A} -br link show veth0 | awk '{print $3}') dev veth1`);
    tma = TestKernel.load({ candThreshold: 1 }); // every flow a candidate: the UDP flow's key is read back
  });
  afterAll(() => {
    tma?.close();
    spawnSync('ip', ['netns', 'del', NS_A]);
    spawnSync('ip', ['netns', 'del', NS_B]);
  });

  const flows = (sport: number) =>
    new Set(
      tma
        .candidates(0)
        .filter((c) => c.key[36] === 17 && ((c.key[32] << 8) | c.key[33]) === sport)
        .map((c) => Buffer.from(c.key).toString('hex')),
    );

  /** requests: datagrams B -> A:9999 seen; replies: A:9999 -> B seen. Exact, from totals, CMS and candidates. */
  function assertCounts(requests: number, replies: number) {
    const t = tma.totals(0);
    expect(t.protoPackets[17]).toBe(BigInt(requests + replies));
    expect([t.errorPackets, t.nonIpPackets]).toEqual([0n, 0n]);
    const cands = tma.candidates(0).filter((c) => c.key[36] === 17);
    const toServer = cands.filter((c) => ((c.key[34] << 8) | c.key[35]) === 9999);
    const fromServer = cands.filter((c) => ((c.key[32] << 8) | c.key[33]) === 9999);
    expect(toServer.reduce((s, c) => s + c.packets, 0n)).toBe(BigInt(requests));
    expect(fromServer.reduce((s, c) => s + c.packets, 0n)).toBe(BigInt(replies));
    if (requests) {
      // the client's port, read back from the candidate key, gives the flow's CMS cells: estimate = count
      const sport = (toServer[0].key[32] << 8) | toServer[0].key[33];
      const cms = tma.cms(0);
      const cells = expectedIndices(
        flowKey({ src: '10.213.0.2', dst: '10.213.0.1', sport, dport: 9999, proto: 17 }),
      ).cells;
      expect(cells.map((c) => cms.packets[c]).reduce((a, b) => (a < b ? a : b))).toBe(BigInt(requests));
      expect(flows(sport).size).toBe(1);
    }
    const cms = tma.cms(0);
    let row0 = 0n;
    for (let i = 0; i < CMS_WIDTH; i++) row0 += cms.packets[i];
    expect(row0).toBe(t.protoPackets.reduce((a, b) => a + b, 0n));
  }

  it('TC clsact on ingress and egress counts datagrams in and echoes out, and detaches cleanly', async () => {
    tma.clearAll();
    inNetns(NS_A, () => attachTc('veth0', tma.programFd('tma_tc')));
    try {
      expect(inNetns(NS_A, () => [queryTc('veth0', 'INGRESS'), queryTc('veth0', 'EGRESS')]).every((id) => id > 0)).toBe(
        true,
      );
      await send();
    } finally {
      inNetns(NS_A, () => detachTc('veth0'));
    }
    expect(inNetns(NS_A, () => [queryTc('veth0', 'INGRESS'), queryTc('veth0', 'EGRESS')])).toEqual([0, 0]);
    expect(sh(`tc -n ${NS_A} filter show dev veth0 ingress; tc -n ${NS_A} filter show dev veth0 egress`)).toBe('');
    assertCounts(SENDS, SENDS);
  });

  it.each(['generic', 'native'] as const)('XDP (%s) counts ingress only, and detaches cleanly', async (mode) => {
    tma.clearAll();
    inNetns(NS_A, () => attachXdp('veth0', tma.programFd('tma_xdp'), mode));
    try {
      expect(sh(`ip -n ${NS_A} link show veth0`)).toMatch(mode === 'native' ? /xdp / : /xdpgeneric/);
      await send();
    } finally {
      inNetns(NS_A, () => detachXdp('veth0', mode));
    }
    expect(sh(`ip -n ${NS_A} link show veth0`)).not.toMatch(/xdp/);
    assertCounts(SENDS, 0);
  });
});
