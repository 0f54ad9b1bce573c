/** One unusable setting: `name` is the variable or flag (and where its value came from), `message` what is wrong. */
export interface Problem {
  name?: string;
  message: string;
}

/**
 * The one error for unusable settings, raised once at start-up with every problem found, one per line:
 * `<name>: <what is wrong and what is accepted>`.
 */
export class ConfigError extends Error {
  override name = 'ConfigError';
  readonly problems: readonly Problem[];

  constructor(problems: string | Problem | readonly Problem[]) {
    const list =
      typeof problems === 'string' ? [{ message: problems }] : Array.isArray(problems) ? problems : [problems];
    super(list.map(render).join('\n'));
    this.problems = list as readonly Problem[];
  }

  /** Throws one ConfigError listing `problems`, if there are any. */
  static throwIfAny(problems: readonly Problem[]): void {
    if (problems.length > 0) throw new ConfigError(problems);
  }
}

function render(p: Problem): string {
  return p.name ? `${p.name}: ${p.message}` : p.message;
}
