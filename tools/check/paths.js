#!/usr/bin/env node
// Fails when a doc or a comment names a repository path that does not exist (a file moved, a prototype removed).
// Scans every tracked text file for words that start with a top-level folder of the repository; paths of build
// output (dist/, .build/, .state/), globs and templated names are skipped. Run by `./tma check`.
'use strict';
const { execFileSync } = require('node:child_process');
const fs = require('node:fs');
const path = require('node:path');

const root = path.resolve(__dirname, '../..');
const TOP = ['apps', 'libs', 'bpf', 'bench', 'tools', 'infra', 'docs'];
const TEXT = /\.(md|ts|js|mjs|cjs|c|h|sh|json|ya?ml|sql|html|css|py|avsc)$|(^|\/)(Makefile|Dockerfile|tma)$/;
const SKIP_FILE = /(^|\/)(package-lock\.json|test-vectors\.json)$|\.generated\.ts$/;
const WORD = new RegExp(`(?<!apiVersion:\\s*)(?<![\\w./@<-])((?:${TOP.join('|')})/[\\w./+{},-]*[\\w/}])`, 'g');
// (Kubernetes API groups such as `apiVersion: apps/v1` are not paths.)
// Build output, run state and placeholders never exist in a clean clone.
const GENERATED = /(^|\/)(dist|\.build|\.state|node_modules)(\/|$)|\*|<|\$|\{/;

const files = execFileSync('git', ['ls-files', '-co', '--exclude-standard'], { cwd: root, encoding: 'utf8' })
  .split('\n')
  .filter((f) => f && TEXT.test(f) && !SKIP_FILE.test(f) && fs.existsSync(path.join(root, f)));

/** True when the path exists; a name ending in `_` (a numbered-file prefix such as `0100_`) matches by prefix. */
function exists(ref) {
  const full = path.join(root, ref);
  if (!ref.endsWith('_')) return fs.existsSync(full);
  const dir = path.dirname(full);
  return fs.existsSync(dir) && fs.readdirSync(dir).some((n) => n.startsWith(path.basename(full)));
}

const missing = [];
for (const file of files) {
  const lines = fs.readFileSync(path.join(root, file), 'utf8').split('\n');
  lines.forEach((line, i) => {
    for (const m of line.matchAll(WORD)) {
      const ref = m[1].replace(/[.]+$/, '');
      if (GENERATED.test(ref)) continue;
      // A path may be written relative to the repository or to the file's own folder.
      if (exists(ref) || exists(path.join(path.dirname(file), ref))) continue;
      missing.push(`${file}:${i + 1}: ${ref}`);
    }
  });
}
if (missing.length) {
  process.stderr.write(
    `paths named in docs or comments that do not exist (${missing.length}):\n${missing.join('\n')}\n`,
  );
  process.exit(1);
}
