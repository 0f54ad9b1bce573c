// Agent configuration: defaults < JSON file (--config) < environment (TMA_AGENT_*) < flags. Validated once at
// start; every error names the setting, where it came from, and what is accepted.
import * as os from 'node:os';
import * as path from 'node:path';
import { ConfigError, loadSettings, parseEnum, parseList, rule, rules, setting } from '@tma/config';
import { BLOCK_RULES_MAX, TUNNEL_MODES, type TunnelMode } from '@tma/kernel';
import { COMPRESSION_CODECS, DEFAULT_COMPRESSION, zstdAvailable, type CompressionCodec } from '@tma/kafka';
import {
  INTERVAL_DEFAULT_MS,
  INTERVAL_MAX_MS,
  INTERVAL_MIN_MS,
  parseAddress,
  resolveHashSeed,
  type ResolvedHashSeed,
} from '@tma/sketch';

export { ConfigError };

export type Hook = 'tc' | 'xdp';
export type XdpMode = 'native' | 'generic' | 'auto';
export type TcAttachMode = 'tcx' | 'netlink' | 'auto';

export interface AgentConfig {
  /** null = every non-loopback interface that is up, and those that come up later */
  interfaces: string[] | null;
  hook: Hook;
  xdpMode: XdpMode;
  tcAttach: TcAttachMode;
  intervalMs: number;
  hostId: string;
  samplingRate: number;
  candidateThreshold: number;
  /** VXLAN, Geneve and GRE packets keyed by their outer header or by the packet they carry */
  tunnels: TunnelMode;
  spoolDir: string;
  spoolMaxBytes: number;
  metricsPort: number;
  metricsHost: string;
  topicPrefix: string;
  /** Kafka batch compression of published snapshots */
  compression: CompressionCodec;
  objectPath: string;
  /** how often the interface list is polled, ms */
  pollMs: number;
  once: boolean;
  stdout: boolean;
  /** block rules from the commands topic (docs/edge-agent.md, "Mitigation") */
  mitigation: boolean;
  /** most block rules at once on this host */
  mitigationMaxRules: number;
  /** addresses no rule may hold besides the brokers' (e.g. the query API's) */
  mitigationProtect: string[];
  /** the deployment's hash seed, expanded (TMA_HASH_SEED or TMA_HASH_SEED_FILE; the public one with a warning) */
  hashSeed: ResolvedHashSeed;
  /** bpffs directory of the pinned maps and links (undefined: /sys/fs/bpf/tma/<agent id>; null: nothing pinned) */
  pinDir?: string | null;
}

export const USAGE = `Usage: tma-edge-agent [options]

Counts every packet in the kernel (eBPF sketches) and publishes one snapshot per interval to Kafka.
Precedence: flags > environment > --config file > defaults.

  --config <file>              JSON file with any of the settings below (camelCase keys, e.g. "hostId")
  --interfaces <a,b,...>       TMA_AGENT_INTERFACES   default: every non-loopback interface that is up (new ones
                                                      are picked up while running)
  --hook tc|xdp                TMA_AGENT_HOOK         default tc (clsact ingress + egress); xdp sees ingress only
  --xdp-mode native|generic|auto TMA_AGENT_XDP_MODE   default auto (native where the driver has it)
  --tc-attach tcx|netlink|auto TMA_AGENT_TC_ATTACH    default auto (tcx links; netlink filters on older kernels)
  --interval <1s..300s>        TMA_AGENT_INTERVAL     default 10s (also ms: 500ms, or m: 2m)
  --host-id <id>               TMA_AGENT_HOST_ID      default: the hostname; the Kafka message key
  --sampling-rate <n>          TMA_AGENT_SAMPLING_RATE default 1 (every packet); n = one in n into the sketches
  --candidate-threshold <n>    TMA_AGENT_CANDIDATE_THRESHOLD default 32 packets
  --tunnels outer|inner        TMA_AGENT_TUNNELS      default outer: VXLAN, Geneve and GRE packets counted by their
                                                      outer header; inner: by the packet they carry
  --spool-dir <dir>            TMA_AGENT_SPOOL_DIR    default $TMA_STATE_DIR/edge-agent/<host-id>
                                                      (or /var/lib/tma/edge-agent/<host-id>)
  --spool-max-bytes <n>        TMA_AGENT_SPOOL_MAX_BYTES default 256MiB (k/Ki/M/Mi/G/Gi suffixes)
  --metrics-port <port>        TMA_AGENT_METRICS_PORT default 9465, 0 = no /metrics
  --metrics-host <addr>        TMA_AGENT_METRICS_HOST default 127.0.0.1 (0.0.0.0: every interface)
  --topic-prefix <p>           TMA_AGENT_TOPIC_PREFIX default tma (topic <p>.snapshots.v<N>)
  --compression none|gzip|snappy|zstd TMA_AGENT_COMPRESSION default ${DEFAULT_COMPRESSION} (Kafka batch compression)
  --object <file>              TMA_AGENT_OBJECT       the BPF object (default bpf/dist/tma.bpf.o of this build)
  --poll-interval <dur>        TMA_AGENT_POLL_INTERVAL how often interfaces are rescanned, default 5s
  --pin-dir <dir>|off          TMA_AGENT_PIN_DIR      default /sys/fs/bpf/tma/<agent id>: maps and links pinned
                                                      there keep counting through a crash, and the next start
                                                      adopts them; off: they go with the process
  --mitigation on|off          TMA_AGENT_MITIGATION   default on: apply approved block rules of the commands topic
  --mitigation-max-rules <n>   TMA_AGENT_MITIGATION_MAX_RULES default 256 (1..1024) rules at once on this host
  --mitigation-protect <a,b>   TMA_AGENT_MITIGATION_PROTECT addresses no rule may hold (the brokers' always are),
                                                      e.g. the query API's
  --once                       one interval, then exit
  --stdout                     print each snapshot as one JSON line instead of publishing
  --help, --version
Hash seed: TMA_HASH_SEED (16 hex digits) or TMA_HASH_SEED_FILE (a 0600 file holding them), the same in every
  component of the deployment; neither: the public seed, with a warning (docs/sketch.md).
Kafka: TMA_KAFKA_BROKERS, TMA_KAFKA_SSL*, TMA_KAFKA_SASL_* (see libs/kafka).`;

const IFNAME = /^[^\s/:]{1,15}$/;
const HOST_ID = /^[A-Za-z0-9._:-]{1,253}$/;

export interface LoadedConfig {
  config: AgentConfig;
  help: boolean;
  version: boolean;
}

/** Default BPF object: bpf/dist/tma.bpf.o of the repository this file was built in (dist/ or src/ alike). */
export function defaultObjectPath(): string {
  return path.resolve(__dirname, '..', '..', '..', 'bpf', 'dist', 'tma.bpf.o');
}

const fail = (message: string): never => {
  throw new ConfigError(message);
};

const SETTINGS = {
  interfaces: setting<string[] | null>({
    env: 'TMA_AGENT_INTERFACES',
    flag: 'interfaces',
    schema: rule((v) => {
      const names = parseList(v);
      if (names.length === 0) fail('empty list (leave it unset for every interface that is up)');
      for (const n of names)
        if (!IFNAME.test(n)) fail(`"${n}" is not an interface name (1-15 characters, no spaces, / or :)`);
      return names;
    }),
    default: null,
  }),
  hook: setting<Hook>({ env: 'TMA_AGENT_HOOK', flag: 'hook', schema: rules.oneOf(['tc', 'xdp']), default: 'tc' }),
  xdpMode: setting<XdpMode>({
    env: 'TMA_AGENT_XDP_MODE',
    flag: 'xdp-mode',
    schema: rules.oneOf(['native', 'generic', 'auto']),
    default: 'auto',
  }),
  tcAttach: setting<TcAttachMode>({
    env: 'TMA_AGENT_TC_ATTACH',
    flag: 'tc-attach',
    schema: rules.oneOf(['tcx', 'netlink', 'auto']),
    default: 'auto',
  }),
  intervalMs: setting({
    env: 'TMA_AGENT_INTERVAL',
    flag: 'interval',
    fileKeys: ['interval', 'intervalMs'],
    label: 'interval',
    schema: rules.duration({ min: INTERVAL_MIN_MS, max: INTERVAL_MAX_MS, bareMs: true }),
    default: INTERVAL_DEFAULT_MS,
  }),
  hostId: setting<string | undefined>({
    env: 'TMA_AGENT_HOST_ID',
    flag: 'host-id',
    schema: rule((v) =>
      typeof v === 'string' && HOST_ID.test(v)
        ? v
        : fail(`"${String(v)}" must be 1-253 letters, digits, ".", "_", ":" or "-"`),
    ),
    default: undefined,
  }),
  samplingRate: setting({
    env: 'TMA_AGENT_SAMPLING_RATE',
    flag: 'sampling-rate',
    schema: rules.integer({ min: 1, max: 1_000_000 }),
    default: 1,
  }),
  candidateThreshold: setting({
    env: 'TMA_AGENT_CANDIDATE_THRESHOLD',
    flag: 'candidate-threshold',
    schema: rules.integer({ min: 1, max: 1_000_000_000 }),
    default: 32,
  }),
  tunnels: setting<TunnelMode>({
    env: 'TMA_AGENT_TUNNELS',
    flag: 'tunnels',
    schema: rules.oneOf(TUNNEL_MODES),
    default: 'outer',
  }),
  spoolDir: setting<string | undefined>({
    env: 'TMA_AGENT_SPOOL_DIR',
    flag: 'spool-dir',
    schema: rule((v) => path.resolve(typeof v === 'string' && v.trim() ? v : fail('give a directory path'))),
    default: undefined,
  }),
  // A busy snapshot is up to ~256 KiB.
  spoolMaxBytes: setting({
    env: 'TMA_AGENT_SPOOL_MAX_BYTES',
    flag: 'spool-max-bytes',
    schema: rules.size({ min: 1024 * 1024 }),
    default: 256 * 1024 * 1024,
  }),
  metricsPort: setting({
    env: 'TMA_AGENT_METRICS_PORT',
    flag: 'metrics-port',
    schema: rules.integer({ min: 0, max: 65535 }),
    default: 9465,
  }),
  metricsHost: setting({
    env: 'TMA_AGENT_METRICS_HOST',
    flag: 'metrics-host',
    schema: rules.text('an address to listen on'),
    default: '127.0.0.1', // /metrics has no auth: local only unless a deployment opens it
  }),
  topicPrefix: setting({ env: 'TMA_AGENT_TOPIC_PREFIX', flag: 'topic-prefix', schema: rules.name(), default: 'tma' }),
  compression: setting<CompressionCodec>({
    env: 'TMA_AGENT_COMPRESSION',
    flag: 'compression',
    schema: rule((v) => {
      const codec = parseEnum(v, COMPRESSION_CODECS);
      if (codec === 'zstd' && !zstdAvailable()) fail(`zstd needs Node 22.15 or later (this is ${process.version})`);
      return codec;
    }),
    default: DEFAULT_COMPRESSION,
  }),
  objectPath: setting<string | undefined>({
    env: 'TMA_AGENT_OBJECT',
    flag: 'object',
    schema: rule((v) => path.resolve(typeof v === 'string' && v ? v : fail('give the path of tma.bpf.o'))),
    default: undefined,
  }),
  pollMs: setting({
    env: 'TMA_AGENT_POLL_INTERVAL',
    flag: 'poll-interval',
    fileKeys: ['pollMs'],
    label: 'pollInterval',
    schema: rules.duration({ min: 100, max: 600_000, bareMs: true }),
    default: 5000,
  }),
  pinDir: setting<string | null | undefined>({
    env: 'TMA_AGENT_PIN_DIR',
    flag: 'pin-dir',
    schema: rule((v) =>
      v === 'off' || v === false
        ? null
        : path.resolve(typeof v === 'string' && v ? v : fail('give a directory or off')),
    ),
    default: undefined,
  }),
  mitigation: setting({ env: 'TMA_AGENT_MITIGATION', flag: 'mitigation', schema: rules.onOff(), default: true }),
  mitigationMaxRules: setting({
    env: 'TMA_AGENT_MITIGATION_MAX_RULES',
    flag: 'mitigation-max-rules',
    schema: rules.integer({ min: 1, max: BLOCK_RULES_MAX }),
    default: 256,
  }),
  mitigationProtect: setting<string[]>({
    env: 'TMA_AGENT_MITIGATION_PROTECT',
    flag: 'mitigation-protect',
    schema: rule((v) => {
      const list = parseList(v);
      for (const a of list) {
        try {
          parseAddress(a);
        } catch {
          fail(`"${a}" is not an IPv4 or IPv6 address`);
        }
      }
      return list;
    }),
    default: [],
  }),
  once: setting({ env: 'TMA_AGENT_ONCE', flag: 'once', switch: true, schema: rules.boolean(), default: false }),
  stdout: setting({ env: 'TMA_AGENT_STDOUT', flag: 'stdout', switch: true, schema: rules.boolean(), default: false }),
};

/** The seed from the environment, as a ConfigError naming the variable when it is unusable. */
export function loadHashSeed(env: NodeJS.ProcessEnv): ResolvedHashSeed {
  try {
    return resolveHashSeed(env);
  } catch (e) {
    throw new ConfigError((e as Error).message);
  }
}

export function loadConfig(argv: string[], env: NodeJS.ProcessEnv): LoadedConfig {
  const { values, switches } = loadSettings(
    SETTINGS,
    { argv, env, switches: ['help', 'version'], file: { flag: 'config', env: 'TMA_AGENT_CONFIG' }, usage: USAGE },
    ({ values, from }, report) => {
      if (values.hook === 'tc' && from.xdpMode) report(`xdpMode (${from.xdpMode})`, 'only applies with hook xdp');
      if (!from.hostId && !HOST_ID.test(os.hostname()))
        report('hostId', `the hostname "${os.hostname()}" is not a usable host id; set --host-id`);
    },
  );
  const hostId = values.hostId ?? os.hostname();
  const stateRoot = env.TMA_STATE_DIR ? path.join(env.TMA_STATE_DIR, 'edge-agent') : '/var/lib/tma/edge-agent';
  const config: AgentConfig = {
    ...values,
    hostId,
    spoolDir: values.spoolDir ?? path.join(stateRoot, hostId),
    objectPath: values.objectPath ?? defaultObjectPath(),
    hashSeed: loadHashSeed(env),
  };
  return { config, help: switches.help, version: switches.version };
}
