// Where a process finds its deployment's hash seed (docs/sketch.md, Seed): TMA_HASH_SEED (16 hex digits) or
// TMA_HASH_SEED_FILE (a file holding them: ./tma's .state/hash-seed, a systemd credential, a mounted k8s Secret).
// The seed is never a flag (flags show in ps) and never logged; only its one-way identity is.
import * as fs from 'node:fs';
import { expandHashSeed, parseHashSeed, PUBLIC_HASH_KEY, type HashSeed } from './hash';
import { PUBLIC_HASH_SEED } from './spec.generated';

export const HASH_SEED_ENV = 'TMA_HASH_SEED';
export const HASH_SEED_FILE_ENV = 'TMA_HASH_SEED_FILE';

export interface ResolvedHashSeed {
  seed: HashSeed;
  /** where it came from, for the start-up log (never the seed itself) */
  source: string;
  /** what the operator should know: the public seed in use, a seed file others can read */
  warnings: string[];
}

/** The seed of this process from the environment; throws a RangeError naming the variable when it is unusable. */
export function resolveHashSeed(env: NodeJS.ProcessEnv): ResolvedHashSeed {
  // empty counts as unset, as a compose file's ${TMA_HASH_SEED:-} gives it
  const text = env[HASH_SEED_ENV] || undefined;
  const file = env[HASH_SEED_FILE_ENV] || undefined;
  if (text !== undefined && file !== undefined)
    throw new RangeError(`set one of ${HASH_SEED_ENV} and ${HASH_SEED_FILE_ENV}, not both`);
  const warnings: string[] = [];
  let seed: bigint;
  let source: string;
  if (text !== undefined) {
    seed = parse(text, HASH_SEED_ENV);
    source = HASH_SEED_ENV;
  } else if (file !== undefined) {
    let content: string;
    try {
      content = fs.readFileSync(file, 'utf8');
    } catch (e) {
      throw new RangeError(`${HASH_SEED_FILE_ENV}: cannot read ${file}: ${(e as Error).message}`);
    }
    seed = parse(content, `${HASH_SEED_FILE_ENV} (${file})`);
    source = `${HASH_SEED_FILE_ENV} ${file}`;
    const mode = fs.statSync(file).mode & 0o777;
    if (mode & 0o077)
      warnings.push(
        `hash seed file ${file} has mode 0${mode.toString(8)}: anyone who reads it can build collisions; use 0600`,
      );
  } else {
    warnings.push(
      `no ${HASH_SEED_ENV} or ${HASH_SEED_FILE_ENV}: hashing with the PUBLIC seed ${PUBLIC_HASH_SEED}, ` +
        'against which anyone can build flow collisions that hide flows and collapse distinct counts; ' +
        'give every component the deployment secret seed (./tma setup generates one; docs/deploy.md)',
    );
    return { seed: PUBLIC_HASH_KEY, source: 'public seed (none configured)', warnings };
  }
  const expanded = expandHashSeed(seed);
  if (expanded.isPublic) warnings.push(`${source} holds the PUBLIC seed: anyone can build flow collisions against it`);
  return { seed: expanded, source, warnings };
}

function parse(text: string, where: string): bigint {
  try {
    return parseHashSeed(text);
  } catch (e) {
    throw new RangeError(`${where}: ${(e as Error).message} (generate one with: openssl rand -hex 8)`);
  }
}
