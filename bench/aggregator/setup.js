// The start both aggregator benchmarks share: run from the repository root, the projects built, `--name value` flags.
'use strict';
const { execFileSync } = require('node:child_process');
const path = require('node:path');

const root = path.resolve(__dirname, '../..');

/** Changes to the repository root, builds `projects` (tsconfig paths; incremental) and returns the flags given. */
function benchSetup(projects) {
  process.chdir(root);
  execFileSync(path.join(root, 'node_modules/.bin/tsc'), ['-b', ...projects], { stdio: 'inherit' });
  return Object.fromEntries(
    process.argv
      .slice(2)
      .reduce((acc, a, i, all) => (a.startsWith('--') ? [...acc, [a.slice(2), all[i + 1]]] : acc), []),
  );
}

module.exports = { root, benchSetup };
