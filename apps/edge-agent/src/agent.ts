// The agent's life: load the BPF object (adopting the maps a killed predecessor pinned), attach to the interfaces
// (and to those that appear later), then every interval flip → read → build the snapshot → spool it durably → zero
// the copy read → publish the spool in order. On stop: detach, read the last partial interval, spool and try to
// publish it, release everything, pins included.
import * as fs from 'node:fs';
import type * as http from 'node:http';
import * as path from 'node:path';
import {
  decode,
  encode,
  snapshotTopic,
  type CoveredInterface,
  type MitigationReport,
  type SketchSnapshot,
} from '@tma/schema';
import { loadKafkaSettings } from '@tma/kafka';
import type { AgentConfig } from './config';
import {
  DIRECTIONS,
  ERR_REASONS,
  EpochReader,
  listInterfaces,
  PIN_ROOT,
  TmaKernel,
  type Attachment,
  type EpochRead,
  type NetInterface,
} from '@tma/kernel';
import type { Logger } from './log';
import { AgentMetrics } from './metrics';
import { Publisher } from './publisher';
import { buildSnapshot, snapshotToJson } from './snapshot';
import { Spool } from './spool';
import { AgentState, readBootId } from './agent-state';
import { IntervalClock, systemClocks, type ClosedInterval, type Clocks } from './interval-clock';
import { INTERVAL_MAX_MS, useHashSeed } from '@tma/sketch';
import { BlockMap } from '@tma/kernel';
import { protectedHosts } from '@tma/threats';
import { CommandLink } from './commands';
import { Mitigation, reportFields } from './mitigation';

/** Interface label of the totals of interfaces without a slot of their own in the kernel. */
export const OTHER_INTERFACES = '_other';

export function agentVersion(): string {
  try {
    return (JSON.parse(fs.readFileSync(path.join(__dirname, '..', 'package.json'), 'utf8')) as { version: string })
      .version;
  } catch {
    return '0.0.0';
  }
}

export interface AgentDeps {
  log: Logger;
  env?: NodeJS.ProcessEnv;
  metrics?: AgentMetrics;
  /** where --stdout lines go */
  out?: (line: string) => void;
  bootIdFile?: string;
  clocks?: Clocks;
}

export class Agent {
  readonly metrics: AgentMetrics;
  private kernel: TmaKernel | null = null;
  private reader: EpochReader | null = null;
  private state: AgentState | null = null;
  private spool: Spool | null = null;
  private publisher: Publisher | null = null;
  private server: http.Server | null = null;
  /** block rules (null: mitigation off) and the commands topic link (null: --stdout or off) */
  mitigation: Mitigation | null = null;
  private commands: CommandLink | null = null;
  private tickTimer: NodeJS.Timeout | null = null;
  private pollTimer: NodeJS.Timeout | null = null;
  private draining: Promise<void> | null = null;
  private clock: IntervalClock | null = null;
  /** interfaces covered in the current interval (attached at any moment of it) */
  private covered = new Map<string, CoveredInterface>();
  private stopped = false;
  private startup: Promise<void> | null = null;
  private readonly bootId: string;
  private readonly version = agentVersion();
  private readonly log: Logger;
  /** resolves when the agent stopped by itself (--once) or failed */
  readonly done: Promise<void>;
  private finish!: (err?: Error) => void;

  constructor(
    readonly config: AgentConfig,
    private readonly deps: AgentDeps,
  ) {
    this.log = deps.log;
    this.metrics = deps.metrics ?? new AgentMetrics();
    this.bootId = readBootId(deps.bootIdFile);
    this.done = new Promise((resolve, reject) => {
      this.finish = (err) => (err ? reject(err) : resolve());
    });
    this.done.catch(() => undefined);
  }

  get attachments(): Attachment[] {
    return this.kernel?.attachments() ?? [];
  }

  /** Loads, attaches and starts the interval ticks; a stop() meanwhile waits for it, then undoes all of it. */
  start(): Promise<void> {
    this.startup ??= this.startUp();
    return this.startup;
  }

  private async startUp(): Promise<void> {
    const c = this.config;
    this.state = AgentState.open(c.spoolDir, this.bootId, this.log);
    let settings: ReturnType<typeof loadKafkaSettings> | null = null;
    if (!c.stdout) {
      this.spool = new Spool(c.spoolDir, c.spoolMaxBytes, this.state, this.log, (m) => void decode(m)).open();
      settings = loadKafkaSettings(
        this.deps.env ?? process.env,
        `tma-edge-agent-${c.hostId}`.replace(/[^A-Za-z0-9._-]/g, '_'),
      );
      this.publisher = new Publisher({
        settings,
        topic: snapshotTopic(c.topicPrefix),
        key: c.hostId,
        log: this.log,
        compression: c.compression,
      });
      this.updateSpoolGauges();
    }
    for (const warning of c.hashSeed.warnings) this.log('warn', 'hash_seed', { warning });
    // the kernel and this process's sketches (snapshot seed identity) hash with the same seed
    useHashSeed(c.hashSeed.seed);
    try {
      this.kernel = TmaKernel.load({
        hashSeed: c.hashSeed.seed,
        objectPath: c.objectPath,
        hook: c.hook,
        sampleRate: c.samplingRate,
        candThreshold: c.candidateThreshold,
        tunnels: c.tunnels,
        pinDir: this.pinDir ?? undefined,
      });
      this.logPins();
      // adopted maps: the predecessor's interval in progress is still being counted, nothing lost
      this.state.settle(this.kernel.adopted);
      this.reader = new EpochReader(this.kernel);
      if (c.mitigation) {
        // the brokers this agent publishes to are never blocked, whatever a rule says
        const brokers = settings?.brokers ?? loadKafkaSettings(this.deps.env ?? process.env, 'tma').brokers;
        this.mitigation = new Mitigation(new BlockMap(this.kernel), {
          hostId: c.hostId,
          maxRules: c.mitigationMaxRules,
          protect: [...protectedHosts(brokers), ...c.mitigationProtect],
        });
        if (settings) {
          this.commands = new CommandLink(this.mitigation, {
            settings,
            topicPrefix: c.topicPrefix,
            hostId: c.hostId,
            log: this.log,
          });
          this.commands.start();
        }
      }
      this.syncInterfaces(true);
      const dropped = this.kernel.dropUnclaimedPins();
      if (dropped.length) this.log('info', 'pins_dropped', { pins: dropped });
      if (this.kernel.adopted) this.clock = this.recover();
      this.state.setCounting(true); // from here on a kill loses the interval in progress (unless pinned)
      if (c.metricsPort > 0) this.server = await this.metrics.serve(c.metricsPort, c.metricsHost);
    } catch (e) {
      this.release();
      throw e;
    }
    this.clock ??= new IntervalClock(c.intervalMs, this.deps.clocks ?? systemClocks);
    this.kernel.pins?.markStart(this.reader.generation, this.clock.startMs, this.clock.startMs);
    this.log('info', 'agent_started', {
      hostId: c.hostId,
      agentId: this.state.data.agentId,
      version: this.version,
      bootId: this.bootId,
      hook: c.hook,
      intervalMs: c.intervalMs,
      seedHash: `0x${c.hashSeed.seed.seedHash.toString(16).padStart(8, '0')}`,
      seedSource: c.hashSeed.source,
      interfaces: this.attachments.map(
        (a) => `${a.ifname}/${a.hook}/${a.direction}/${a.via}${a.xdpMode ? '/' + a.xdpMode : ''}`,
      ),
      programIds: [...new Set(this.attachments.map((a) => a.progId))],
      spoolDir: c.spoolDir,
      spooled: this.spool?.depth ?? 0,
      // The sequence skipped for the interval a killed predecessor lost (null: it stopped cleanly, a new boot, or
      // its pinned maps were adopted).
      lostSequence: this.state.lostSequence,
      pinDir: this.kernel.pins?.dir ?? null,
      adopted: this.kernel.adopted,
      metricsPort: this.server ? c.metricsPort : 0,
      mode: c.stdout ? 'stdout' : 'kafka',
    });
    this.pollTimer = setInterval(() => {
      try {
        this.syncInterfaces(false);
      } catch (e) {
        this.log('warn', 'interface_poll_failed', { error: e as Error });
      }
    }, c.pollMs);
    this.pollTimer.unref();
    this.scheduleTick();
    if (this.spool?.depth) this.kickDrain();
  }

  private scheduleTick(delayMs = this.clock!.delayToClose()): void {
    this.tickTimer = setTimeout(() => void this.tick(), delayMs);
  }

  private async tick(): Promise<void> {
    if (this.stopped) return;
    // The timer may fire a little before the interval reaches the schema's minimum: wait for the rest.
    const short = this.clock!.shortByMs();
    if (short > 0) return this.scheduleTick(Math.ceil(short));
    try {
      this.snapshot();
    } catch (e) {
      this.log('error', 'snapshot_failed', { error: e as Error });
      this.finish(e as Error);
      return;
    }
    if (this.config.once) {
      if (this.draining) await this.draining;
      if (this.spool?.depth) {
        this.finish(
          new Error(`--once: the snapshot could not be published and stays in the spool (${this.spool.dir})`),
        );
      } else this.finish();
      return;
    }
    this.scheduleTick();
  }

  /** The pin directory of this agent (null: pinning off): one per agent identity, so agents never share one. */
  private get pinDir(): string | null {
    if (this.config.pinDir === null) return null;
    return this.config.pinDir ?? path.join(PIN_ROOT, this.state!.data.agentId);
  }

  private logPins(): void {
    const k = this.kernel!;
    const o = k.pinOutcome;
    if (k.pinError) this.log('warn', 'pin_failed', { dir: this.pinDir, error: k.pinError });
    else if (o?.adopted) this.log('info', 'maps_adopted', { dir: o.dir });
    else if (o && o.reason !== 'none')
      // pins of another layout or configuration (an upgrade): their counts cannot be read, the object starts fresh
      this.log('warn', 'pins_replaced', { dir: o.dir, reason: o.reason, detail: o.detail });
  }

  /**
   * Adopted maps: the copy the predecessor flipped away from and did not hand out (killed between its flip and its
   * spool write) is handed out now, under the sequence it took for it if it took one; a copy it handed out but did
   * not zero is zeroed. Returns the clock of the interval in progress, which started when the predecessor's did.
   */
  private recover(): IntervalClock {
    const k = this.kernel!;
    const reader = this.reader!;
    const meta = k.pins!.readMeta();
    const gen = reader.generation;
    const idleGen = (gen - 1) >>> 0;
    const idle = idleGen & 1;
    const clocks = this.deps.clocks ?? systemClocks;
    const now = clocks.wall();
    // killed between a flip and recording its time: the copy in progress is stamped from now
    const startMs = meta.gen === gen ? meta.startMs : now;
    if (meta.doneGen !== idleGen) {
      const read = reader.readCopy(idle);
      read.generation = idleGen;
      const interval = { startMs: meta.gen === gen ? meta.prevStartMs : meta.startMs, endMs: startMs };
      // its end unknown (now) after a long downtime: stamped as the schema's longest interval, as the clock does
      const cutMs = Math.max(0, interval.endMs - interval.startMs - INTERVAL_MAX_MS);
      interval.startMs += cutMs;
      const pending = this.state!.pendingSequence(idleGen);
      const snap = this.emit(read, { ...interval, steppedMs: 0, cutMs }, pending ?? undefined);
      this.log('info', 'interval_recovered', {
        sequence: snap.sequence,
        generation: idleGen,
        packets: snap.totals.packets,
        again: pending !== null, // its sequence was taken: it may have been spooled before the kill
      });
    } else reader.clearCopy(idle); // handed out, maybe not yet zeroed
    return new IntervalClock(this.config.intervalMs, clocks, startMs);
  }

  /** Reads the idle copy and turns it into a spooled (or printed) snapshot, then zeroes the copy. Returns it. */
  snapshot(): SketchSnapshot {
    const c0 = process.cpuUsage();
    // the copy stays as it is until its snapshot is spooled (emit): a kill in between leaves it to the next process
    const read = this.reader!.read({ keep: true });
    const interval = this.clock!.close();
    this.kernel?.pins?.markStart(this.reader!.generation, interval.endMs, interval.startMs);
    if (interval.steppedMs) this.log('warn', 'wall_clock_step', { steppedMs: interval.steppedMs });
    if (interval.cutMs) this.log('warn', 'interval_cut', { cutMs: interval.cutMs });
    return this.emit(read, interval, undefined, c0);
  }

  /**
   * Builds the snapshot of a read copy, spools (or prints) it, then marks its generation handed out and zeroes it
   * (also when building fails: a copy is never counted into twice). `sequence`: one taken for it before.
   */
  private emit(read: EpochRead, interval: ClosedInterval, sequence?: number, c0 = process.cpuUsage()): SketchSnapshot {
    try {
      return this.build(read, interval, sequence, c0);
    } finally {
      this.kernel?.pins?.markDone(read.generation);
      this.reader!.clearCopy(read.copy);
    }
  }

  private build(read: EpochRead, interval: ClosedInterval, sequence: number | undefined, c0: NodeJS.CpuUsage) {
    const c1 = process.cpuUsage();
    const t0 = process.hrtime.bigint();
    this.observe(read);
    this.mitigationTick();
    const snap = buildSnapshot(read, {
      hostId: this.config.hostId,
      agentId: this.state!.data.agentId,
      agentVersion: this.version,
      bootId: this.bootId,
      sequence: sequence ?? this.state!.takeSequence(read.generation),
      intervalStartMs: interval.startMs,
      intervalEndMs: interval.endMs,
      interfaces: [...this.covered.values()],
      samplingRate: this.config.samplingRate,
      spoolDrops: this.state!.data.spoolDrops,
    });
    this.resetCovered();
    const message = encode(snap);
    const c2 = process.cpuUsage();
    this.metrics.buildSeconds.observe(Number(process.hrtime.bigint() - t0) / 1e9);
    this.metrics.snapshotsBuilt.inc();
    this.log('info', 'snapshot', {
      sequence: snap.sequence,
      packets: snap.totals.packets,
      bytes: snap.totals.bytes,
      candidates: snap.candidates.length,
      messageBytes: message.length,
      readMs: Number(read.readMs.toFixed(3)),
      barrierMs: Number(read.barrierMs.toFixed(3)),
      // CPU (user + system) of this process: reading the maps, then building + encoding the snapshot
      readCpuMs: cpuMs(c0, c1),
      buildCpuMs: cpuMs(c1, c2),
    });
    if (this.config.stdout) {
      const line = JSON.stringify(snapshotToJson(decode(message).snapshot)) + '\n';
      (this.deps.out ?? ((l: string) => process.stdout.write(l)))(line);
    } else {
      const dropped = this.spool!.put(message);
      if (dropped) this.metrics.spoolDropped.inc(dropped); // logged by the spool, once while drops go on
      this.updateSpoolGauges();
      this.kickDrain();
    }
    return snap;
  }

  /** Rules past their expiry leave the kernel map; changed counters are reported. */
  private mitigationTick(): void {
    if (!this.mitigation) return;
    try {
      for (const r of this.mitigation.tick()) this.mitigationReport(r);
    } catch (e) {
      this.log('warn', 'mitigation_tick_failed', { error: e as Error });
    }
  }

  /** A report of the mitigation: sent on the reports topic, or only logged (--stdout). */
  mitigationReport(r: MitigationReport): void {
    if (this.commands) this.commands.report(r);
    else this.log(r.event === 'REFUSED' ? 'warn' : 'info', 'mitigation', reportFields(r));
  }

  private observe(read: EpochRead): void {
    const m = this.metrics;
    const t = read.totals;
    m.readSeconds.observe(read.readMs / 1000);
    m.packets.inc(t.packets);
    m.bytes.inc(t.bytes);
    m.candidateEvictions.inc(t.candEvictions);
    for (let r = 0; r < read.errors.length; r++)
      if (read.errors[r] > 0) m.parseErrors.inc({ reason: ERR_REASONS[r] }, read.errors[r]);
    // slot 0 counts interfaces without a slot of their own (more than the kernel has, or a table collision)
    const names = this.kernel?.interfaceSlots();
    for (let i = 0; i < read.ifPackets.length; i++) {
      if (read.ifPackets[i] === 0) continue;
      const labels = { interface: names?.get(i >> 1) ?? OTHER_INTERFACES, direction: DIRECTIONS[i & 1] };
      m.interfacePackets.inc(labels, read.ifPackets[i]);
      m.interfaceBytes.inc(labels, read.ifBytes[i]);
    }
  }

  private updateSpoolGauges(): void {
    if (!this.spool) return;
    this.metrics.spoolDepth.set(this.spool.depth);
    this.metrics.spoolBytes.set(this.spool.bytes);
  }

  /** Starts publishing the spool unless a drain is already running. */
  private kickDrain(): void {
    if (this.draining || !this.publisher || !this.spool) return;
    this.draining = (async () => {
      const r = await this.publisher!.drain(this.spool!);
      for (const s of r.latencies) this.metrics.publishSeconds.observe(s);
      this.metrics.snapshotsSent.inc(r.sent);
      if (r.dropped) this.metrics.spoolDropped.inc(r.dropped);
      this.updateSpoolGauges();
      if (r.error) {
        this.metrics.publishErrors.inc();
        this.log('warn', 'publish_failed', { error: r.error, sent: r.sent, spooled: this.spool!.depth });
      } else if (r.sent) this.log('debug', 'published', { sent: r.sent, spooled: this.spool!.depth });
    })().finally(() => {
      this.draining = null;
    });
  }

  /** Attaches to interfaces that should be covered and are not yet; forgets those that vanished. */
  private syncInterfaces(initial: boolean): void {
    const k = this.kernel!;
    const present = listInterfaces();
    const byName = new Map(present.map((i) => [i.name, i]));
    const wanted: NetInterface[] = [];
    if (this.config.interfaces) {
      for (const name of this.config.interfaces) {
        const i = byName.get(name);
        if (i) wanted.push(i);
        else if (initial)
          throw new Error(`interface ${name} does not exist (present: ${present.map((p) => p.name).join(', ')})`);
      }
    } else wanted.push(...present.filter((i) => i.up && !i.loopback));
    const presentIdx = new Set(present.map((i) => i.ifindex));
    for (const a of k.attachments()) {
      if (!presentIdx.has(a.ifindex) || byName.get(a.ifname)?.ifindex !== a.ifindex) {
        k.detach(a.ifindex); // gone (or renamed/replaced): the kernel already removed the program with it
        this.log('info', 'interface_gone', { ifname: a.ifname, ifindex: a.ifindex });
      }
    }
    for (const i of wanted) {
      if (k.isAttached(i.ifindex)) continue;
      try {
        // adopted maps: a filter left by the predecessor is replaced in place by the attach (it counts into them)
        const stale = k.adopted ? 0 : TmaKernel.removeStale(i.ifindex);
        if (stale) this.log('warn', 'stale_programs_removed', { ifname: i.name, removed: stale });
        const made = k.attach(i.ifindex, i.name, { xdpMode: this.config.xdpMode, tcAttach: this.config.tcAttach });
        for (const a of made) this.cover(a);
        this.metrics.interfaces.set(new Set(k.attachments().map((a) => a.ifindex)).size);
        if (!initial)
          this.log('info', 'interface_attached', { ifname: i.name, ifindex: i.ifindex, via: made.map((a) => a.via) });
      } catch (e) {
        if (initial && this.config.interfaces) throw e;
        this.log('warn', 'attach_failed', { ifname: i.name, error: e as Error });
      }
    }
    if (initial && k.attachments().length === 0)
      this.log('warn', 'no_interfaces', { detail: 'no interface is up yet; polling for new ones' });
  }

  private cover(a: Attachment): void {
    this.covered.set(`${a.ifindex}/${a.hook}/${a.direction}`, {
      ifname: a.ifname,
      ifindex: a.ifindex,
      hook: a.hook,
      direction: a.direction,
    });
  }

  private resetCovered(): void {
    this.covered.clear();
    for (const a of this.kernel?.attachments() ?? []) this.cover(a);
  }

  /**
   * Stops: detaches (nothing more is counted), snapshots the last partial interval unless --once already did,
   * publishes what it can within `drainMs`, and frees everything. The spool keeps whatever was not acknowledged.
   */
  async stop(drainMs = 5000): Promise<void> {
    if (this.stopped) return;
    this.stopped = true;
    // A signal during start-up: let it finish (it cannot be cut between attach and its bookkeeping), then undo it.
    if (this.startup) await this.startup.catch(() => undefined);
    if (this.tickTimer) clearTimeout(this.tickTimer);
    if (this.pollTimer) clearInterval(this.pollTimer);
    // A final interval shorter than the schema's minimum would be refused downstream: keep counting (at most 1 s)
    // until it is long enough, so its stamps stay true and nothing counted is lost.
    // A timer can fire a little early by the monotonic clock, hence the loop.
    if (this.reader && !this.config.once && this.clock) {
      for (let short; (short = this.clock.shortByMs()) > 0;) await new Promise((r) => setTimeout(r, Math.ceil(short)));
    }
    try {
      if (this.kernel) {
        for (const a of this.kernel.attachments()) this.kernel.detach(a.ifindex);
        if (!this.config.once && this.reader) this.snapshot();
      }
      this.state?.setCounting(false); // the final snapshot holds the last counts: nothing lost
    } catch (e) {
      this.log('error', 'final_snapshot_failed', { error: e as Error });
    }
    if (this.draining) await Promise.race([this.draining, sleep(drainMs)]);
    if (this.spool?.depth && this.publisher && !this.draining) {
      this.kickDrain();
      await Promise.race([this.draining, sleep(drainMs)]);
    }
    this.release();
    await this.publisher?.close();
    await this.commands?.close();
    this.log('info', 'agent_stopped', { spooled: this.spool?.depth ?? 0, snapshots: this.state?.data.nextSequence });
    this.finish();
  }

  private release(): void {
    try {
      this.kernel?.close();
    } catch (e) {
      this.log('warn', 'detach_failed', { error: e as Error });
    }
    this.kernel = null;
    this.reader = null;
    this.server?.closeAllConnections();
    this.server?.close();
    this.server = null;
    this.spool?.close();
  }
}

const cpuMs = (a: NodeJS.CpuUsage, b: NodeJS.CpuUsage) =>
  Math.round((b.user - a.user + b.system - a.system) / 100) / 10;
const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms).unref());
