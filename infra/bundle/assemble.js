// Copies the edge agent and exactly what it loads at run time into a bundle directory, laid out as in the
// repository (apps/edge-agent/dist, libs/<lib>/dist, node_modules/<pkg>, bpf/dist), so the agent's own defaults
// (the BPF object next to the build, koffi's native package beside koffi) hold unchanged inside the bundle.
//
// The set is computed, not listed: workspace packages by the bare require()s of their built JavaScript, npm
// packages by their package.json dependencies (optional ones when installed). Usage: node assemble.js <out-dir>
'use strict';
const fs = require('node:fs');
const path = require('node:path');
const { builtinModules } = require('node:module');

const ROOT = path.resolve(__dirname, '..', '..');
const out = path.resolve(process.argv[2] ?? die('usage: assemble.js <out-dir>'));

function die(msg) {
  process.stderr.write(`assemble: ${msg}\n`);
  process.exit(1);
}

const builtins = new Set(builtinModules);
const isBuiltin = (s) => s.startsWith('node:') || builtins.has(s) || builtins.has(s.split('/')[0]);
const packageName = (spec) =>
  spec
    .split('/')
    .slice(0, spec.startsWith('@') ? 2 : 1)
    .join('/');

function walk(dir, visit) {
  for (const e of fs.readdirSync(dir, { withFileTypes: true })) {
    const p = path.join(dir, e.name);
    if (e.isDirectory()) walk(p, visit);
    else visit(p);
  }
}

/** Directory of package `name` as Node resolves it from `fromDir` (node_modules lookup up to the root). */
function locate(name, fromDir) {
  for (let dir = fromDir; ; dir = path.dirname(dir)) {
    const cand = path.join(dir, 'node_modules', name);
    if (fs.existsSync(path.join(cand, 'package.json'))) return cand;
    if (dir === ROOT || dir === path.dirname(dir)) return null;
  }
}

const copied = new Map(); // repository-relative dir -> package.json version
const queue = [path.join(ROOT, 'apps', 'edge-agent')];

function enqueue(name, fromDir, optional) {
  const dir = locate(name, fromDir);
  if (!dir) {
    if (optional) return;
    die(`${name} (needed by ${path.relative(ROOT, fromDir)}) is not installed`);
  }
  queue.push(dir);
}

while (queue.length) {
  const linked = queue.shift();
  const real = fs.realpathSync(linked);
  const rel = path.relative(ROOT, real);
  if (copied.has(rel)) continue;
  const pkg = JSON.parse(fs.readFileSync(path.join(real, 'package.json'), 'utf8'));
  copied.set(rel, `${pkg.name}@${pkg.version}`);
  if (rel.split(path.sep)[0] !== 'node_modules') {
    // Workspace package: its package.json and built JavaScript only (no types, maps or sources).
    const dist = path.join(real, 'dist');
    if (!fs.existsSync(dist)) die(`${rel}/dist is missing: build first (tsc -b ${rel})`);
    fs.mkdirSync(path.join(out, rel), { recursive: true });
    fs.copyFileSync(path.join(real, 'package.json'), path.join(out, rel, 'package.json'));
    walk(dist, (file) => {
      if (!file.endsWith('.js')) return;
      const dest = path.join(out, path.relative(ROOT, file));
      fs.mkdirSync(path.dirname(dest), { recursive: true });
      fs.copyFileSync(file, dest);
      for (const m of fs.readFileSync(file, 'utf8').matchAll(/\brequire\(\s*["']([^"'./][^"']*)["']\s*\)/g)) {
        if (!isBuiltin(m[1])) enqueue(packageName(m[1]), real, false);
      }
    });
    if (linked !== real) {
      // the workspace link node_modules/@tma/<name> -> ../../<rel>, relative as npm makes it
      const link = path.join(out, path.relative(ROOT, linked));
      fs.mkdirSync(path.dirname(link), { recursive: true });
      fs.symlinkSync(path.relative(path.dirname(link), path.join(out, rel)), link);
    }
  } else {
    // npm package: whole, minus nested node_modules (each dependency is copied on its own as it is reached).
    fs.cpSync(real, path.join(out, rel), {
      recursive: true,
      filter: (src) => !path.relative(real, src).split(path.sep).includes('node_modules'),
    });
    for (const dep of Object.keys(pkg.dependencies ?? {})) enqueue(dep, real, false);
    for (const dep of Object.keys(pkg.optionalDependencies ?? {})) enqueue(dep, real, true);
  }
}

const object = path.join(ROOT, 'bpf', 'dist', 'tma.bpf.o');
if (!fs.existsSync(object)) die('bpf/dist/tma.bpf.o is missing: build first (make -C bpf)');
fs.mkdirSync(path.join(out, 'bpf', 'dist'), { recursive: true });
fs.copyFileSync(object, path.join(out, 'bpf', 'dist', 'tma.bpf.o'));

const lines = [...copied].sort(([a], [b]) => a.localeCompare(b)).map(([rel, id]) => `${id} ${rel}`);
fs.writeFileSync(path.join(out, 'PACKAGES'), lines.join('\n') + '\n');
process.stdout.write(lines.join('\n') + '\n');
