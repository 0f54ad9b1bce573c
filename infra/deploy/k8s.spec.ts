// infra/k8s/*.yaml validated offline against the Kubernetes API schemas (kubernetes-validate, strict: unknown
// fields are errors), plus the facts the manifests must agree on with the rest of the deployment.
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { ROOT, describeIf, has, pythonTools, run } from './support';

const DIR = path.join(ROOT, 'infra', 'k8s');
const FILES = fs
  .readdirSync(DIR)
  .filter((f) => f.endsWith('.yaml'))
  .map((f) => path.join(DIR, f));

/* eslint-disable @typescript-eslint/no-explicit-any -- manifests are checked by schema above; here only read */
type Doc = Record<string, any>;

describeIf(has('python3') ? [] : ['python3 (with venv)'])('Kubernetes manifests', () => {
  let bin: string;
  const load = (file: string): Doc[] => {
    const py = 'import json,sys,yaml; print(json.dumps(list(yaml.safe_load_all(open(sys.argv[1])))))';
    const r = run(path.join(bin, 'python'), ['-c', py, file]);
    if (r.status !== 0) throw new Error(r.stderr);
    return JSON.parse(r.stdout) as Doc[];
  };
  const validate = (files: string[]) =>
    run(path.join(bin, 'kubernetes-validate'), ['--strict', '--no-warn', ...files], { timeout: 120_000 });
  const all = () => FILES.flatMap(load);
  const find = (kind: string, name: string) => all().find((d) => d.kind === kind && d.metadata.name === name)!;

  beforeAll(() => {
    const tools = pythonTools();
    if (tools.error) throw new Error(tools.error);
    bin = tools.bin;
  }, 300_000);

  it('every manifest is valid for the Kubernetes API, strictly', () => {
    expect(FILES.map((f) => path.basename(f)).sort()).toEqual([
      'aggregator.deployment.yaml',
      'edge-agent.daemonset.yaml',
      'query-api.deployment.yaml',
      'tma.config.yaml',
    ]);
    const r = validate(FILES);
    expect(r.stdout + r.stderr).not.toMatch(/ERROR|failed/i);
    expect(r.status).toBe(0);
    expect(r.stdout.match(/passed for resource/g)).toHaveLength(all().length);
  });

  it('the validator rejects a manifest with a misspelt field or a wrong type', () => {
    const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'tma-k8s-'));
    try {
      const text = fs.readFileSync(path.join(DIR, 'edge-agent.daemonset.yaml'), 'utf8');
      const typo = path.join(tmp, 'typo.yaml');
      fs.writeFileSync(typo, text.replace('hostNetwork: true', 'hostNetwrk: true'));
      expect(validate([typo]).status).not.toBe(0);
      const type = path.join(tmp, 'type.yaml');
      fs.writeFileSync(type, text.replace('terminationGracePeriodSeconds: 20', 'terminationGracePeriodSeconds: soon'));
      expect(validate([type]).status).not.toBe(0);
    } finally {
      fs.rmSync(tmp, { recursive: true, force: true });
    }
  });

  it('the DaemonSet runs on the host network with exactly the capabilities of the systemd unit', () => {
    const ds = find('DaemonSet', 'tma-edge-agent');
    const pod = ds.spec.template.spec;
    expect(pod.hostNetwork).toBe(true);
    const [c] = pod.containers;
    expect(c.securityContext.privileged).toBe(false);
    expect(c.securityContext.capabilities.drop).toEqual(['ALL']);
    const unit = fs.readFileSync(path.join(ROOT, 'infra/systemd/tma-agent.service'), 'utf8');
    const unitCaps = /^AmbientCapabilities=(.*)$/m
      .exec(unit)![1]
      .split(/\s+/)
      .map((x) => x.replace(/^CAP_/, ''));
    expect([...c.securityContext.capabilities.add].sort()).toEqual(unitCaps.sort());
    const mounts = c.volumeMounts.map((m: Doc) => m.mountPath);
    expect(mounts).toContain('/sys/kernel/btf');
    // requests cover the measured footprint (docs/edge-agent.md: up to 121 MiB RSS at a 1 s interval)
    expect(c.resources.limits.memory).toBe('256Mi');
    expect(c.resources.requests.memory).toBe('128Mi');
  });

  it('every ConfigMap key and Secret the workloads read is defined or documented', () => {
    const config = find('ConfigMap', 'tma-config');
    const docs = fs.readFileSync(path.join(ROOT, 'docs/deploy.md'), 'utf8');
    const refs = all()
      .filter((d) => ['Deployment', 'DaemonSet'].includes(d.kind))
      .flatMap((d) => d.spec.template.spec.containers.flatMap((c: Doc) => c.env ?? []))
      .map((e: Doc) => e.valueFrom ?? {});
    for (const r of refs.filter((v: Doc) => v.configMapKeyRef))
      expect(Object.keys(config.data)).toContain(r.configMapKeyRef.key);
    for (const r of refs.filter((v: Doc) => v.secretKeyRef)) expect(docs).toContain(r.secretKeyRef.name);
    // the query API must listen beyond loopback to be reachable through its Service
    const api = find('Deployment', 'tma-query-api').spec.template.spec.containers[0];
    expect(api.env).toContainEqual({ name: 'TMA_API_HOST', value: '0.0.0.0' });
  });
});
