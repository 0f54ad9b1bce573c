// The one settings loader: every process declares its settings (variable, flag, JSON key, zod schema, default) and
// gets typed values, or one ConfigError naming every unusable setting. Precedence: flag > environment > file >
// default. An empty or blank variable counts as unset, as shells often export empty variables.
import * as fs from 'node:fs';
import { parseArgs } from 'node:util';
import { z } from 'zod';
import { ConfigError, type Problem } from './errors';
import * as p from './parsers';

export interface Setting<T> {
  /** The environment variable. */
  env?: string;
  /** The command-line flag, without "--". */
  flag?: string;
  /** A flag without value (its presence means true). */
  switch?: boolean;
  /** Keys accepted in the JSON file (default: the setting's own key). */
  fileKeys?: readonly string[];
  /** Name in messages when the value may come from several sources (default: the key). */
  label?: string;
  /** A blank variable is a value, not "unset" (passwords), and is given to the schema untrimmed. */
  keepBlank?: boolean;
  schema: z.ZodType<T>;
  default: T;
}

/** Declares one setting with its value type inferred from the schema. */
export function setting<T>(s: Setting<T>): Setting<T> {
  return s;
}

/** A setting read from one variable only, undefined when unset. */
export function optional<T>(env: string, schema: z.ZodType<T>): Setting<T | undefined> {
  return { env, schema: schema as z.ZodType<T | undefined>, default: undefined };
}

// eslint-disable-next-line @typescript-eslint/no-explicit-any
export type Settings = Record<string, Setting<any>>;
export type Values<S extends Settings> = { [K in keyof S]: S[K] extends Setting<infer T> ? T : never };

export interface Sources {
  env?: NodeJS.ProcessEnv;
  /** Command-line arguments, parsed strictly against the settings' flags, `switches` and the file flag. */
  argv?: readonly string[];
  /** Valueless flags that are not settings (help, version), reported in `switches`. */
  switches?: readonly string[];
  /** Where the name of a JSON file of settings may be given. */
  file?: { flag?: string; env?: string };
  /** Appended to the message when the command line cannot be parsed. */
  usage?: string;
}

export interface Loaded<S extends Settings> {
  values: Values<S>;
  /** Where each setting that was given came from: "flag --x", "env X" or "file <path>". */
  from: { [K in keyof S]?: string };
  switches: Record<string, boolean>;
}

/**
 * Reads every setting from flags, environment, file and defaults. `refine` may add problems that involve several
 * settings; everything wrong is thrown together as one ConfigError.
 */
export function loadSettings<S extends Settings>(
  settings: S,
  sources: Sources,
  refine?: (loaded: Loaded<S>, report: (name: string, message: string) => void) => void,
): Loaded<S> {
  const env = sources.env ?? {};
  const multi = sources.argv !== undefined || sources.file !== undefined;
  const given: Partial<Record<keyof S, { value: unknown; from: string }>> = {};
  const problems: Problem[] = [];

  const flags = parseFlags(settings, sources);
  const fileName = (sources.file?.flag && flags[sources.file.flag]) || (sources.file?.env && env[sources.file.env]);
  if (typeof fileName === 'string' && fileName) {
    const byKey = new Map<string, keyof S>();
    for (const [key, s] of Object.entries(settings)) for (const k of s.fileKeys ?? [key]) byKey.set(k, key);
    for (const [k, value] of Object.entries(readJsonObject(fileName))) {
      const key = byKey.get(k);
      if (key === undefined)
        problems.push({
          name: `config file ${fileName}`,
          message: `unknown setting "${k}" (known: ${[...byKey.keys()].join(', ')})`,
        });
      else given[key] = { value, from: `file ${fileName}` };
    }
  }
  for (const [key, s] of Object.entries(settings) as [keyof S, Setting<unknown>][]) {
    const raw = s.env === undefined ? undefined : env[s.env];
    if (raw !== undefined && (s.keepBlank ? raw !== '' : raw.trim() !== ''))
      given[key] = { value: raw, from: `env ${s.env}` };
    if (s.flag !== undefined && flags[s.flag] !== undefined)
      given[key] = { value: flags[s.flag], from: `flag --${s.flag}` };
  }

  const values = {} as Record<keyof S, unknown>;
  const from: { [K in keyof S]?: string } = {};
  for (const [key, s] of Object.entries(settings) as [keyof S, Setting<unknown>][]) {
    const g = given[key];
    if (g === undefined) {
      values[key] = s.default;
      continue;
    }
    from[key] = g.from;
    const r = s.schema.safeParse(g.value);
    if (r.success) values[key] = r.data;
    else {
      values[key] = s.default;
      const name = multi ? `${s.label ?? String(key)} (${g.from})` : (s.env ?? String(key));
      for (const issue of r.error.issues) problems.push({ name, message: issue.message });
    }
  }
  const switches: Record<string, boolean> = {};
  for (const sw of sources.switches ?? []) switches[sw] = flags[sw] === true;
  const loaded: Loaded<S> = { values: values as Values<S>, from, switches };
  refine?.(loaded, (name, message) => problems.push({ name, message }));
  ConfigError.throwIfAny(problems);
  return loaded;
}

function parseFlags(settings: Settings, sources: Sources): Record<string, string | boolean | undefined> {
  if (sources.argv === undefined) return {};
  const options: Record<string, { type: 'string' | 'boolean' }> = {};
  if (sources.file?.flag) options[sources.file.flag] = { type: 'string' };
  for (const sw of sources.switches ?? []) options[sw] = { type: 'boolean' };
  for (const s of Object.values(settings)) if (s.flag) options[s.flag] = { type: s.switch ? 'boolean' : 'string' };
  try {
    const parsed = parseArgs({ args: [...sources.argv], options, allowPositionals: false, strict: true });
    return parsed.values as Record<string, string | boolean | undefined>;
  } catch (e) {
    throw new ConfigError(`${(e as Error).message}${sources.usage ? `\n\n${sources.usage}` : ''}`);
  }
}

function readJsonObject(file: string): Record<string, unknown> {
  let json: unknown;
  try {
    json = JSON.parse(fs.readFileSync(file, 'utf8'));
  } catch (e) {
    throw new ConfigError({ name: `config file ${file}`, message: (e as Error).message });
  }
  const r = z.record(z.string(), z.unknown()).safeParse(json);
  if (!r.success || Array.isArray(json))
    throw new ConfigError({ name: `config file ${file}`, message: 'must hold a JSON object' });
  return r.data;
}

/**
 * A zod schema from a parser: its ConfigError becomes the issue message, so a setting's message is exactly what
 * the parser says is wrong.
 */
export function rule<T>(parse: (value: unknown) => T): z.ZodType<T> {
  return z.unknown().transform((value, ctx) => {
    try {
      return parse(value);
    } catch (e) {
      if (!(e instanceof ConfigError)) throw e;
      for (const problem of e.problems) ctx.addIssue({ code: 'custom', message: problem.message, input: value });
      return z.NEVER;
    }
  }) as unknown as z.ZodType<T>;
}

/** Schemas of the shared parsers, for `setting({ schema })`. */
export const rules = {
  duration: (o?: p.DurationOptions) => rule((v) => p.parseDuration(v, o)),
  size: (o?: { min?: number }) => rule((v) => p.parseSize(v, o)),
  integer: (o: p.IntegerOptions) => rule((v) => p.parseInteger(v, o)),
  boolean: (words?: p.BooleanWords) => rule((v) => p.parseBoolean(v, words)),
  onOff: () => rule((v) => p.parseBoolean(v, { yes: ['on'], no: ['off'] })),
  oneOf: <T extends string>(allowed: readonly T[]) => rule((v) => p.parseEnum(v, allowed)),
  hostPorts: () => rule(p.parseHostPorts),
  name: (maxLength?: number) => rule((v) => p.parseName(v, maxLength)),
  text: (what?: string) => rule((v) => p.parseText(v, what)),
  /** The value as given (untrimmed string). */
  raw: () => rule((v) => (typeof v === 'string' ? v : p.parseText(v))),
};
