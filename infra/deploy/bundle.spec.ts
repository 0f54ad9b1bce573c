// The edge agent bundle (infra/bundle/build.sh) end to end: built, unpacked into a fresh directory, run with its own
// Node; the systemd unit verified against it; and the bundled agent run as an unprivileged user holding only the
// unit's capabilities, inside a network namespace, publishing a snapshot of the packets it saw to the real broker.
import { spawn } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { randomUUID } from 'node:crypto';
import { Kafka, logLevel } from 'kafkajs';
import { loadKafkaSettings } from '@tma/kafka';
import { decode, snapshotTopic } from '@tma/schema';
import { NsPair, ROOT, describeIf, has, relayKafka, run } from './support';

const CAPS = ['bpf', 'perfmon', 'net_admin'];
const UNIT = path.join(ROOT, 'infra', 'systemd', 'tma-agent.service');
const NOBODY = 65534;

const missing = [
  ...(process.getuid?.() === 0 ? [] : ['root (network namespaces, setpriv)']),
  ...(process.arch === 'x64' ? [] : ['an x86-64 machine']),
  ...['ip', 'setpriv', 'systemd-analyze', 'python3', 'tar', 'make'].filter((c) => !has(c)),
  ...(run('sh', ['-c', 'ldconfig -p | grep -q "libbpf.so.1 "']).status === 0 ? [] : ['libbpf.so.1 (libbpf1)']),
];

describeIf(missing)('edge agent bundle', () => {
  let tmp: string;
  let bundle: string; // the unpacked bundle's top directory
  let archive: string;

  beforeAll(() => {
    tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'tma-bundle-'));
    fs.chmodSync(tmp, 0o755); // the unprivileged run below must reach the bundle
    const built = run('bash', [path.join(ROOT, 'infra', 'bundle', 'build.sh'), '--out', path.join(tmp, 'out')], {
      timeout: 240_000,
    });
    if (built.status !== 0) throw new Error(`build.sh failed:\n${built.stderr}`);
    archive = built.stdout.trim().split('\n').pop()!;
    const into = path.join(tmp, 'host');
    fs.mkdirSync(into);
    const unpacked = run('tar', ['-xzf', archive, '-C', into]);
    if (unpacked.status !== 0) throw new Error(unpacked.stderr);
    bundle = path.join(into, fs.readdirSync(into)[0]);
  }, 300_000);

  afterAll(() => {
    if (tmp) fs.rmSync(tmp, { recursive: true, force: true });
  });

  it('is named by version, holds the runtime, the object and only the packages the agent loads', () => {
    const version = JSON.parse(fs.readFileSync(path.join(ROOT, 'apps/edge-agent/package.json'), 'utf8')).version;
    expect(path.basename(archive)).toBe(`tma-agent-${version}-linux-x64.tar.gz`);
    expect(path.basename(bundle)).toBe(`tma-agent-${version}-linux-x64`);
    expect(fs.existsSync(path.join(bundle, 'bpf/dist/tma.bpf.o'))).toBe(true);
    const packages = fs.readFileSync(path.join(bundle, 'PACKAGES'), 'utf8');
    for (const p of ['@tma/edge-agent', '@tma/sketch', '@tma/schema', '@tma/kafka', 'koffi', 'kafkajs', 'avsc'])
      expect(packages).toContain(`${p}@`);
    for (const p of ['chdb', '@tma/storage', '@nestjs/core', 'typescript', 'jest'])
      expect(packages).not.toContain(`${p}@`);
    expect(fs.existsSync(path.join(bundle, 'node_modules/chdb'))).toBe(false);
    // the Node runtime and koffi's native module need only libraries a Debian 12 base system has
    for (const binary of ['runtime/node', 'node_modules/@koromix/koffi-linux-x64/linux_x64/koffi.node']) {
      const ldd = run('ldd', [path.join(bundle, binary)]);
      expect(ldd.stdout).not.toContain('not found');
      for (const lib of ldd.stdout.match(/^\s*(\S+\.so\S*) =>/gm) ?? [])
        expect(lib.trim()).toMatch(/^(libdl|libstdc\+\+|libm|libgcc_s|libpthread|libc)\.so/);
    }
    expect(run(path.join(bundle, 'runtime/node'), ['-p', 'process.versions.node']).stdout).toMatch(/^22\./);
  });

  it('bin/tma-agent documents its flags and runs with nothing but the bundle on PATH', () => {
    const env = { PATH: '/usr/bin:/bin' };
    const help = run(path.join(bundle, 'bin/tma-agent'), ['--help'], { env, cwd: '/' });
    expect(help.status).toBe(0);
    for (const flag of ['--interfaces', '--hook', '--interval', '--object', '--spool-dir', '--once', '--config'])
      expect(help.stdout).toContain(flag);
    const version = run(path.join(bundle, 'bin/tma-agent'), ['--version'], { env, cwd: '/' });
    expect(version.status).toBe(0);
    const bad = run(path.join(bundle, 'bin/tma-agent'), ['--interval', '500ms'], { env, cwd: '/' });
    expect(bad.status).toBe(2);
  });

  it('systemd-analyze verifies the unit pointed at the bundle; the offline security review stays low', () => {
    const unit = path.join(tmp, 'tma-agent.service');
    fs.writeFileSync(unit, fs.readFileSync(UNIT, 'utf8').replaceAll('/opt/tma-agent/', `${bundle}/`));
    const verify = run('systemd-analyze', ['verify', unit]);
    expect(verify.stderr.split('\n').filter((l) => l.includes('tma-agent.service'))).toEqual([]);
    expect(verify.status).toBe(0);
    const security = run('systemd-analyze', ['security', '--offline=yes', '--no-pager', unit]);
    const exposure = /Overall exposure level for tma-agent\.service: ([\d.]+)/.exec(security.stdout);
    expect(exposure).not.toBeNull();
    expect(Number(exposure![1])).toBeLessThanOrEqual(3);
    // the unit grants exactly the capabilities the run below proves enough
    const text = fs.readFileSync(UNIT, 'utf8');
    const granted = (key: string) =>
      new RegExp(`^${key}=(.*)$`, 'm')
        .exec(text)![1]
        .split(/\s+/)
        .map((c) => c.replace(/^CAP_/, '').toLowerCase())
        .sort();
    expect(granted('AmbientCapabilities')).toEqual([...CAPS].sort());
    expect(granted('CapabilityBoundingSet')).toEqual([...CAPS].sort());
  });

  describe('in a network namespace, as an unprivileged user', () => {
    let ns: NsPair;
    let stopRelay: () => void = () => undefined;
    let spool: string;
    const brokers = () => process.env.TMA_KAFKA_BROKERS ?? '127.0.0.1:9092';

    beforeAll(async () => {
      ns = new NsPair().create();
      stopRelay = await relayKafka(ns.agentNs, brokers().split(',')[0], tmp, path.join(bundle, 'runtime/node'));
      spool = path.join(tmp, 'spool');
      fs.mkdirSync(spool);
      fs.chownSync(spool, NOBODY, NOBODY);
    }, 30_000);

    afterAll(() => {
      stopRelay();
      ns?.destroy();
    });

    // The bundled launcher under `ip netns exec` + setpriv: uid/gid nobody, no groups, and the capability sets of
    // the unit (inheritable + ambient survive the exec of the shell launcher and of node).
    const agentArgv = (caps: string[], args: string[]) => {
      const set = ['-all', ...caps.map((c) => `+${c}`)].join(',');
      return [
        ...['netns', 'exec', ns.agentNs, 'setpriv', `--reuid=${NOBODY}`, `--regid=${NOBODY}`, '--clear-groups'],
        ...[`--inh-caps=${set}`, `--ambient-caps=${set}`, `--bounding-set=${set}`],
        ...[path.join(bundle, 'bin/tma-agent'), '--spool-dir', spool, '--metrics-port', '0', ...args],
      ];
    };
    const agentEnv = () => ({ PATH: '/usr/bin:/bin', TMA_KAFKA_BROKERS: brokers() });

    it('with CAP_BPF, CAP_PERFMON and CAP_NET_ADMIN only, attaches and publishes a snapshot of what it saw', async () => {
      const prefix = `tma-test-deploy-${randomUUID().slice(0, 8)}`;
      const sent = 200;
      const args = ['--once', '--interval', '3s', '--host-id', prefix, '--topic-prefix', prefix];
      const child = spawn('ip', agentArgv(CAPS, args), {
        env: agentEnv(),
        cwd: '/',
        stdio: ['ignore', 'ignore', 'pipe'],
      });
      let log = '';
      const exited = new Promise<number | null>((resolve) => child.on('exit', resolve));
      // the packets go once the agent is attached (its agent_started line), well inside the 3 s interval
      await new Promise<void>((resolve, reject) => {
        const timer = setTimeout(() => reject(new Error(`agent did not start:\n${log}`)), 20_000);
        child.stderr!.on('data', (d: Buffer) => {
          log += d.toString();
          if (log.includes('"agent_started"')) {
            clearTimeout(timer);
            resolve();
          }
        });
        child.on('exit', () => reject(new Error(`agent exited before starting:\n${log}`)));
      });
      ns.sendUdp(sent);
      expect(await exited).toBe(0); // --once: 0 only once Kafka acknowledged the snapshot
      expect(log).toContain(`${ns.ifname}/TC/INGRESS`);
      expect(log).toContain('"snapshot"');

      const kafka = new Kafka({ ...loadKafkaSettings(process.env, 'tma-deploy-spec'), logLevel: logLevel.NOTHING });
      const consumer = kafka.consumer({ groupId: `${prefix}-check` });
      await consumer.connect();
      try {
        await consumer.subscribe({ topic: snapshotTopic(prefix), fromBeginning: true });
        const message = await new Promise<{ key: string; value: Buffer }>((resolve, reject) => {
          const timer = setTimeout(() => reject(new Error('no snapshot on the topic within 20 s')), 20_000);
          void consumer.run({
            eachMessage: async ({ message: m }) => {
              clearTimeout(timer);
              resolve({ key: m.key!.toString(), value: m.value! });
            },
          });
        });
        expect(message.key).toBe(prefix);
        const { snapshot } = decode(message.value);
        expect(snapshot.hostId).toBe(prefix);
        expect(snapshot.interfaces.map((i) => i.ifname)).toEqual([ns.ifname, ns.ifname]);
        const udp = snapshot.totals.protocols.find((p) => p.protocol === 17);
        expect(udp?.packets).toBe(sent);
      } finally {
        await consumer.disconnect();
        const admin = kafka.admin();
        await admin.connect();
        await admin.deleteTopics({ topics: [snapshotTopic(prefix)] }).catch(() => undefined);
        await admin.disconnect();
      }
    }, 90_000);

    // Why each capability is in the unit: without any one of them the kernel refuses to load the programs.
    it.each(CAPS)('without CAP_%s the agent cannot load its programs and exits 1', (dropped) => {
      const argv = agentArgv(
        CAPS.filter((c) => c !== dropped),
        ['--once', '--stdout', '--interval', '1s'],
      );
      const r = run('ip', argv, { env: agentEnv(), cwd: '/', timeout: 40_000 });
      expect(r.status).toBe(1);
      expect(r.stderr).toMatch(/"start_failed".*bpf_object__load: (Operation not permitted|Permission denied)/);
    });
  });
});
