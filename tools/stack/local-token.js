// The local API tokens of the single-machine stack: made once, kept in the state folder (mode 600). `api-token`
// (read scope) is printed for the dashboard; `api-admin-token` (admin scope) is only for `./tma sql`.
'use strict';
const { randomBytes } = require('node:crypto');
const fs = require('node:fs');
const path = require('node:path');

const root = path.resolve(__dirname, '../..');

/** The file of a local token: `read` → api-token, `admin` → api-admin-token. */
function tokenFile(scope) {
  const dir = process.env.TMA_STATE_DIR ?? path.join(root, '.state');
  return path.join(dir, scope === 'admin' ? 'api-admin-token' : 'api-token');
}

/** The token of `scope`, made when missing. */
function localToken(scope) {
  const file = tokenFile(scope);
  if (!fs.existsSync(file)) {
    fs.mkdirSync(path.dirname(file), { recursive: true });
    fs.writeFileSync(file, randomBytes(24).toString('base64url'), { mode: 0o600 });
  }
  return fs.readFileSync(file, 'utf8').trim();
}

module.exports = { localToken, tokenFile };
