// Options of the traffic generators: what is given, else the default.

/** `options` over `defaults`, key by key: a missing or undefined option takes its default. */
export function withDefaults<T extends object>(options: Partial<T>, defaults: T): T {
  const out = { ...defaults };
  for (const k of Object.keys(defaults) as (keyof T)[]) {
    const v = options[k];
    if (v !== undefined) out[k] = v as T[keyof T];
  }
  return out;
}
