// The dashboard is plain browser JavaScript and cannot import libs/threats: its list of threat kinds (one colour per
// kind) is checked against the one definition here.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { THREAT_KINDS } from '@tma/threats';

it('the threats panel colours exactly the kinds libs/threats defines, in its order', () => {
  const src = readFileSync(join(__dirname, '..', '..', 'dashboard', 'threats.js'), 'utf8');
  const list = /const KINDS = \[([^\]]*)\];/.exec(src);
  expect(list).not.toBeNull();
  const kinds = [...list![1].matchAll(/'([^']+)'/g)].map((m) => m[1]);
  expect(kinds).toEqual([...THREAT_KINDS]);
});
