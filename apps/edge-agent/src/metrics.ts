// Prometheus metrics of the agent (own registry, so tests can run several agents in one process).
import * as http from 'node:http';
import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';

export class AgentMetrics {
  readonly registry = new Registry();
  readonly packets = new Counter({
    name: 'tma_agent_packets_total',
    help: 'Wire packets seen by the kernel program (all hooks and directions)',
    registers: [this.registry],
  });
  readonly bytes = new Counter({
    name: 'tma_agent_bytes_total',
    help: 'Wire bytes seen by the kernel program (from the link header on)',
    registers: [this.registry],
  });
  readonly interfacePackets = new Counter({
    name: 'tma_agent_interface_packets_total',
    help: 'Wire packets per interface and direction (a GSO/GRO skb counts its segments); interface "_other": interfaces without a kernel slot',
    labelNames: ['interface', 'direction'],
    registers: [this.registry],
  });
  readonly interfaceBytes = new Counter({
    name: 'tma_agent_interface_bytes_total',
    help: 'Wire bytes per interface and direction, from the link header on (IP header on devices without one)',
    labelNames: ['interface', 'direction'],
    registers: [this.registry],
  });
  readonly parseErrors = new Counter({
    name: 'tma_agent_parse_errors_total',
    help: 'Malformed frames by reason (tcp_header and tcp_truncated frames are still counted, keyed by their ports)',
    labelNames: ['reason'],
    registers: [this.registry],
  });
  readonly candidateEvictions = new Counter({
    name: 'tma_agent_candidate_evictions_total',
    help: 'Heavy-hitter candidates evicted from the kernel table',
    registers: [this.registry],
  });
  readonly snapshotsBuilt = new Counter({
    name: 'tma_agent_snapshots_built_total',
    help: 'Snapshots built',
    registers: [this.registry],
  });
  readonly snapshotsSent = new Counter({
    name: 'tma_agent_snapshots_sent_total',
    help: 'Snapshots acknowledged by Kafka',
    registers: [this.registry],
  });
  readonly publishErrors = new Counter({
    name: 'tma_agent_publish_errors_total',
    help: 'Failed publish attempts (the snapshot stays spooled)',
    registers: [this.registry],
  });
  readonly publishSeconds = new Histogram({
    name: 'tma_agent_publish_seconds',
    help: 'Time from send to acknowledgement (acks=all)',
    buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10],
    registers: [this.registry],
  });
  readonly readSeconds = new Histogram({
    name: 'tma_agent_read_seconds',
    help: 'Epoch flip + barrier + read + clear of the idle copy',
    buckets: [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25],
    registers: [this.registry],
  });
  readonly buildSeconds = new Histogram({
    name: 'tma_agent_build_seconds',
    help: 'Building and encoding the snapshot',
    buckets: [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25],
    registers: [this.registry],
  });
  readonly spoolDepth = new Gauge({
    name: 'tma_agent_spool_depth',
    help: 'Snapshots waiting in the spool',
    registers: [this.registry],
  });
  readonly spoolBytes = new Gauge({
    name: 'tma_agent_spool_bytes',
    help: 'Bytes in the spool',
    registers: [this.registry],
  });
  readonly spoolDropped = new Counter({
    name: 'tma_agent_spool_dropped_total',
    help: 'Snapshots dropped from a full spool',
    registers: [this.registry],
  });
  readonly interfaces = new Gauge({
    name: 'tma_agent_attached_interfaces',
    help: 'Interfaces the programs are attached to',
    registers: [this.registry],
  });

  constructor(defaults = true) {
    // Event-loop lag sampled every second, not every 10 ms: the default precision alone cost ~0.4 % of a core idle.
    if (defaults)
      collectDefaultMetrics({ register: this.registry, prefix: 'tma_agent_', eventLoopMonitoringPrecision: 1000 });
  }

  /** Serves GET /metrics; resolves with the server once listening. */
  serve(port: number, host: string): Promise<http.Server> {
    const server = http.createServer((req, res) => {
      if (req.method === 'GET' && req.url?.split('?')[0] === '/metrics') {
        this.registry.metrics().then(
          (body) => {
            res.writeHead(200, { 'content-type': this.registry.contentType });
            res.end(body);
          },
          (err: Error) => {
            res.writeHead(500);
            res.end(err.message);
          },
        );
      } else {
        res.writeHead(404);
        res.end('not found: GET /metrics\n');
      }
    });
    return new Promise((resolve, reject) => {
      server.once('error', reject);
      server.listen(port, host, () => resolve(server));
    });
  }
}
