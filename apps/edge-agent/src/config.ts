// Agent configuration: defaults < JSON file (--config) < environment (TMA_AGENT_*) < flags. Validated once at
// start; every error names the setting, where it came from, and what is accepted.
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { parseArgs } from 'node:util';
import { COMPRESSION_CODECS, DEFAULT_COMPRESSION, zstdAvailable, type CompressionCodec } from '@tma/kafka';
import { INTERVAL_DEFAULT_MS, INTERVAL_MAX_MS, INTERVAL_MIN_MS } from '@tma/sketch';

export class ConfigError extends Error {
  override name = 'ConfigError';
}

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
}

type Raw = Partial<Record<keyof AgentConfig, { value: unknown; from: string }>>;

/** Setting → environment variable and flag. */
const SETTINGS: { key: keyof AgentConfig; env: string; flag: string; type: 'string' | 'boolean' }[] = [
  { key: 'interfaces', env: 'TMA_AGENT_INTERFACES', flag: 'interfaces', type: 'string' },
  { key: 'hook', env: 'TMA_AGENT_HOOK', flag: 'hook', type: 'string' },
  { key: 'xdpMode', env: 'TMA_AGENT_XDP_MODE', flag: 'xdp-mode', type: 'string' },
  { key: 'tcAttach', env: 'TMA_AGENT_TC_ATTACH', flag: 'tc-attach', type: 'string' },
  { key: 'intervalMs', env: 'TMA_AGENT_INTERVAL', flag: 'interval', type: 'string' },
  { key: 'hostId', env: 'TMA_AGENT_HOST_ID', flag: 'host-id', type: 'string' },
  { key: 'samplingRate', env: 'TMA_AGENT_SAMPLING_RATE', flag: 'sampling-rate', type: 'string' },
  { key: 'candidateThreshold', env: 'TMA_AGENT_CANDIDATE_THRESHOLD', flag: 'candidate-threshold', type: 'string' },
  { key: 'spoolDir', env: 'TMA_AGENT_SPOOL_DIR', flag: 'spool-dir', type: 'string' },
  { key: 'spoolMaxBytes', env: 'TMA_AGENT_SPOOL_MAX_BYTES', flag: 'spool-max-bytes', type: 'string' },
  { key: 'metricsPort', env: 'TMA_AGENT_METRICS_PORT', flag: 'metrics-port', type: 'string' },
  { key: 'metricsHost', env: 'TMA_AGENT_METRICS_HOST', flag: 'metrics-host', type: 'string' },
  { key: 'topicPrefix', env: 'TMA_AGENT_TOPIC_PREFIX', flag: 'topic-prefix', type: 'string' },
  { key: 'compression', env: 'TMA_AGENT_COMPRESSION', flag: 'compression', type: 'string' },
  { key: 'objectPath', env: 'TMA_AGENT_OBJECT', flag: 'object', type: 'string' },
  { key: 'pollMs', env: 'TMA_AGENT_POLL_INTERVAL', flag: 'poll-interval', type: 'string' },
  { key: 'once', env: 'TMA_AGENT_ONCE', flag: 'once', type: 'boolean' },
  { key: 'stdout', env: 'TMA_AGENT_STDOUT', flag: 'stdout', type: 'boolean' },
];

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
  --spool-dir <dir>            TMA_AGENT_SPOOL_DIR    default $TMA_STATE_DIR/edge-agent/<host-id>
                                                      (or /var/lib/tma/edge-agent/<host-id>)
  --spool-max-bytes <n>        TMA_AGENT_SPOOL_MAX_BYTES default 256MiB (k/Ki/M/Mi/G/Gi suffixes)
  --metrics-port <port>        TMA_AGENT_METRICS_PORT default 9465, 0 = no /metrics
  --metrics-host <addr>        TMA_AGENT_METRICS_HOST default 0.0.0.0
  --topic-prefix <p>           TMA_AGENT_TOPIC_PREFIX default tma (topic <p>.snapshots.v1)
  --compression none|gzip|snappy|zstd TMA_AGENT_COMPRESSION default ${DEFAULT_COMPRESSION} (Kafka batch compression)
  --object <file>              TMA_AGENT_OBJECT       the BPF object (default bpf/dist/tma.bpf.o of this build)
  --poll-interval <dur>        TMA_AGENT_POLL_INTERVAL how often interfaces are rescanned, default 5s
  --once                       one interval, then exit
  --stdout                     print each snapshot as one JSON line instead of publishing
  --help, --version
Kafka: TMA_KAFKA_BROKERS, TMA_KAFKA_SSL*, TMA_KAFKA_SASL_* (see libs/kafka).`;

function parseDuration(v: unknown, where: string, name: string): number {
  if (typeof v === 'number' && Number.isFinite(v)) return v;
  const m = typeof v === 'string' ? /^\s*(\d+(?:\.\d+)?)\s*(ms|s|m)?\s*$/.exec(v) : null;
  if (!m) throw new ConfigError(`${name} (${where}): "${String(v)}" is not a duration like 10s, 500ms or 2m`);
  const n = Number(m[1]);
  return Math.round(m[2] === 'ms' ? n : m[2] === 'm' ? n * 60_000 : m[2] === 's' ? n * 1000 : n);
}

function parseInteger(v: unknown, where: string, name: string, min: number, max: number): number {
  const n = typeof v === 'number' ? v : typeof v === 'string' && /^\s*\d+\s*$/.test(v) ? Number(v) : NaN;
  if (!Number.isInteger(n) || n < min || n > max) {
    throw new ConfigError(`${name} (${where}): "${String(v)}" must be an integer from ${min} to ${max}`);
  }
  return n;
}

const SIZE_UNITS: Record<string, number> = { '': 1, k: 1e3, ki: 1024, m: 1e6, mi: 1024 ** 2, g: 1e9, gi: 1024 ** 3 };
function parseSize(v: unknown, where: string, name: string): number {
  if (typeof v === 'number' && Number.isInteger(v) && v > 0) return v;
  const m = typeof v === 'string' ? /^\s*(\d+)\s*([kKmMgG]i?)?[bB]?\s*$/.exec(v) : null;
  if (!m) throw new ConfigError(`${name} (${where}): "${String(v)}" is not a size like 268435456, 256Mi or 1G`);
  return Number(m[1]) * SIZE_UNITS[(m[2] ?? '').toLowerCase()];
}

function parseBool(v: unknown, where: string, name: string): boolean {
  if (typeof v === 'boolean') return v;
  if (v === 'true' || v === '1') return true;
  if (v === 'false' || v === '0' || v === '') return false;
  throw new ConfigError(`${name} (${where}): "${String(v)}" must be true or false`);
}

function oneOf<T extends string>(v: unknown, where: string, name: string, allowed: readonly T[]): T {
  if (typeof v === 'string' && (allowed as readonly string[]).includes(v)) return v as T;
  throw new ConfigError(`${name} (${where}): "${String(v)}" must be one of ${allowed.join(', ')}`);
}

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

export function loadConfig(argv: string[], env: NodeJS.ProcessEnv): LoadedConfig {
  let parsed: ReturnType<typeof parseArgs>;
  const options: Record<string, { type: 'string' | 'boolean' }> = {
    config: { type: 'string' },
    help: { type: 'boolean' },
    version: { type: 'boolean' },
  };
  for (const s of SETTINGS) options[s.flag] = { type: s.type };
  try {
    parsed = parseArgs({ args: argv, options, allowPositionals: false, strict: true });
  } catch (e) {
    throw new ConfigError(`${(e as Error).message}\n\n${USAGE}`);
  }
  const flags = parsed.values as Record<string, string | boolean | undefined>;
  const raw: Raw = {};
  const set = (key: keyof AgentConfig, value: unknown, from: string) => {
    if (value !== undefined) raw[key] = { value, from };
  };

  const configFile = (flags.config as string | undefined) ?? env.TMA_AGENT_CONFIG;
  if (configFile) {
    let json: unknown;
    try {
      json = JSON.parse(fs.readFileSync(configFile, 'utf8'));
    } catch (e) {
      throw new ConfigError(`config file ${configFile}: ${(e as Error).message}`);
    }
    if (typeof json !== 'object' || json === null || Array.isArray(json))
      throw new ConfigError(`config file ${configFile}: must hold a JSON object`);
    const known = new Map<string, keyof AgentConfig>(
      SETTINGS.map((s) => [s.key === 'intervalMs' ? 'interval' : s.key, s.key]),
    );
    for (const [k, v] of Object.entries(json)) {
      const key = known.get(k) ?? (k === 'intervalMs' ? 'intervalMs' : undefined);
      if (!key)
        throw new ConfigError(
          `config file ${configFile}: unknown setting "${k}" (known: ${[...known.keys()].join(', ')})`,
        );
      set(key, v, `file ${configFile}`);
    }
  }
  for (const s of SETTINGS) set(s.key, env[s.env], `env ${s.env}`);
  for (const s of SETTINGS) set(s.key, flags[s.flag], `flag --${s.flag}`);

  const get = <T>(key: keyof AgentConfig, parse: (v: unknown, where: string) => T, dflt: T): T => {
    const r = raw[key];
    return r === undefined ? dflt : parse(r.value, r.from);
  };

  const interfaces = get<string[] | null>(
    'interfaces',
    (v, where) => {
      const list = Array.isArray(v) ? v : typeof v === 'string' ? v.split(',') : null;
      if (!list) throw new ConfigError(`interfaces (${where}): give a comma-separated list or a JSON array of names`);
      const names = list.map((x) => String(x).trim()).filter(Boolean);
      if (names.length === 0)
        throw new ConfigError(`interfaces (${where}): empty list (leave it unset for every interface that is up)`);
      for (const n of names)
        if (!IFNAME.test(n))
          throw new ConfigError(
            `interfaces (${where}): "${n}" is not an interface name (1-15 characters, no spaces, / or :)`,
          );
      return [...new Set(names)];
    },
    null,
  );
  const hostId = get(
    'hostId',
    (v, where) => {
      if (typeof v !== 'string' || !HOST_ID.test(v))
        throw new ConfigError(`hostId (${where}): "${String(v)}" must be 1-253 letters, digits, ".", "_", ":" or "-"`);
      return v;
    },
    os.hostname(),
  );
  if (!HOST_ID.test(hostId))
    throw new ConfigError(`hostId: the hostname "${hostId}" is not a usable host id; set --host-id`);
  const intervalMs = get(
    'intervalMs',
    (v, where) => {
      const ms = parseDuration(v, where, 'interval');
      if (ms < INTERVAL_MIN_MS || ms > INTERVAL_MAX_MS) {
        throw new ConfigError(
          `interval (${where}): ${ms} ms is outside ${INTERVAL_MIN_MS / 1000}s..${INTERVAL_MAX_MS / 1000}s`,
        );
      }
      return ms;
    },
    INTERVAL_DEFAULT_MS,
  );
  const stateRoot = env.TMA_STATE_DIR ? path.join(env.TMA_STATE_DIR, 'edge-agent') : '/var/lib/tma/edge-agent';
  const config: AgentConfig = {
    interfaces,
    hook: get('hook', (v, w) => oneOf(v, w, 'hook', ['tc', 'xdp'] as const), 'tc' as Hook),
    xdpMode: get(
      'xdpMode',
      (v, w) => oneOf(v, w, 'xdpMode', ['native', 'generic', 'auto'] as const),
      'auto' as XdpMode,
    ),
    tcAttach: get(
      'tcAttach',
      (v, w) => oneOf(v, w, 'tcAttach', ['tcx', 'netlink', 'auto'] as const),
      'auto' as TcAttachMode,
    ),
    intervalMs,
    hostId,
    samplingRate: get('samplingRate', (v, w) => parseInteger(v, w, 'samplingRate', 1, 1_000_000), 1),
    candidateThreshold: get(
      'candidateThreshold',
      (v, w) => parseInteger(v, w, 'candidateThreshold', 1, 1_000_000_000),
      32,
    ),
    spoolDir: get(
      'spoolDir',
      (v, w) => {
        if (typeof v !== 'string' || v.trim() === '') throw new ConfigError(`spoolDir (${w}): give a directory path`);
        return path.resolve(v);
      },
      path.join(stateRoot, hostId),
    ),
    spoolMaxBytes: get(
      'spoolMaxBytes',
      (v, w) => {
        const n = parseSize(v, w, 'spoolMaxBytes');
        if (n < 1024 * 1024)
          throw new ConfigError(
            `spoolMaxBytes (${w}): ${n} bytes is below the 1 MiB minimum (a busy snapshot is up to ~256 KiB)`,
          );
        return n;
      },
      256 * 1024 * 1024,
    ),
    metricsPort: get('metricsPort', (v, w) => parseInteger(v, w, 'metricsPort', 0, 65535), 9465),
    metricsHost: get(
      'metricsHost',
      (v, w) => {
        if (typeof v !== 'string' || !v) throw new ConfigError(`metricsHost (${w}): give an address to listen on`);
        return v;
      },
      '0.0.0.0',
    ),
    topicPrefix: get(
      'topicPrefix',
      (v, w) => {
        if (typeof v !== 'string' || !/^[A-Za-z0-9._-]{1,200}$/.test(v))
          throw new ConfigError(`topicPrefix (${w}): "${String(v)}" may hold only letters, digits, ".", "_" and "-"`);
        return v;
      },
      'tma',
    ),
    compression: get(
      'compression',
      (v, w) => {
        const codec = oneOf(v, w, 'compression', COMPRESSION_CODECS);
        if (codec === 'zstd' && !zstdAvailable())
          throw new ConfigError(`compression (${w}): zstd needs Node 22.15 or later (this is ${process.version})`);
        return codec;
      },
      DEFAULT_COMPRESSION as CompressionCodec,
    ),
    objectPath: get(
      'objectPath',
      (v, w) => {
        if (typeof v !== 'string' || !v) throw new ConfigError(`objectPath (${w}): give the path of tma.bpf.o`);
        return path.resolve(v);
      },
      defaultObjectPath(),
    ),
    pollMs: get(
      'pollMs',
      (v, w) => {
        const ms = parseDuration(v, w, 'pollInterval');
        if (ms < 100 || ms > 600_000) throw new ConfigError(`pollInterval (${w}): ${ms} ms is outside 100ms..10m`);
        return ms;
      },
      5000,
    ),
    once: get('once', (v, w) => parseBool(v, w, 'once'), false),
    stdout: get('stdout', (v, w) => parseBool(v, w, 'stdout'), false),
  };
  if (config.hook === 'tc' && raw.xdpMode)
    throw new ConfigError(`xdpMode (${raw.xdpMode.from}) only applies with hook xdp`);
  return { config, help: flags.help === true, version: flags.version === true };
}
