// The one structured logger of every process: JSON lines with time, level, component, msg and context fields,
// written through pino; the level comes from TMA_LOG_LEVEL (default info).
import type { LoggerService } from '@nestjs/common';
import { ConfigError, loadSettings, rules, setting } from '@tma/config';
import pino from 'pino';

export const LOG_LEVELS = ['trace', 'debug', 'info', 'warn', 'error', 'fatal', 'silent'] as const;
export type LogLevel = (typeof LOG_LEVELS)[number];
export type Logger = pino.Logger;

/** TMA_LOG_LEVEL, validated like every other setting (a ConfigError names the variable). */
export function logLevelFromEnv(env: NodeJS.ProcessEnv = process.env): LogLevel {
  const level = setting<LogLevel>({ env: 'TMA_LOG_LEVEL', schema: rules.oneOf(LOG_LEVELS), default: 'info' });
  return loadSettings({ level }, { env }).values.level;
}

export interface LoggerOptions {
  /** The process or part of it ("edge-agent", "aggregator", "query-api"), on every line. */
  component: string;
  /** Default: TMA_LOG_LEVEL of `env`. */
  level?: LogLevel;
  env?: NodeJS.ProcessEnv;
  /** Where lines go (default stdout, written synchronously so nothing is lost on exit). */
  destination?: { write(line: string): unknown };
}

/**
 * A logger for one component. A bad TMA_LOG_LEVEL does not stop the process (the logger is made before the rest of
 * its settings are read): it logs at info and says so in its first line.
 */
export function createLogger(options: LoggerOptions): Logger {
  let level = options.level;
  let problem: string | undefined;
  try {
    level ??= logLevelFromEnv(options.env);
  } catch (e) {
    if (!(e instanceof ConfigError)) throw e;
    problem = e.message;
  }
  const logger = pino(
    {
      level: level ?? 'info',
      base: { component: options.component },
      timestamp: () => `,"time":"${new Date().toISOString()}"`,
      formatters: { level: (label) => ({ level: label }) },
      // An Error given as `error` is logged by its message (stacks stay in `err`, pino's own serializer).
      serializers: { error: (e: unknown) => (e instanceof Error ? e.message : e) },
    },
    options.destination ?? pino.destination({ dest: 1, sync: true }),
  );
  if (problem) logger.warn(`${problem}; logging at info`);
  return logger;
}

/** Nest's LoggerService on a shared logger: Nest's context (e.g. "Aggregator") and error traces become fields. */
export class NestLogger implements LoggerService {
  constructor(private readonly logger: Logger) {}

  log(message: unknown, ...params: unknown[]): void {
    this.write('info', message, params);
  }
  error(message: unknown, ...params: unknown[]): void {
    this.write('error', message, params);
  }
  warn(message: unknown, ...params: unknown[]): void {
    this.write('warn', message, params);
  }
  debug(message: unknown, ...params: unknown[]): void {
    this.write('debug', message, params);
  }
  verbose(message: unknown, ...params: unknown[]): void {
    this.write('trace', message, params);
  }
  fatal(message: unknown, ...params: unknown[]): void {
    this.write('fatal', message, params);
  }

  // Nest passes (message, context) or, for errors, (message, stack, context); the context is always last.
  private write(level: Exclude<LogLevel, 'silent'>, message: unknown, params: unknown[]): void {
    if (!this.logger.isLevelEnabled(level)) return;
    const fields: Record<string, unknown> = {};
    const rest = [...params];
    if (rest.length > 0 && typeof rest[rest.length - 1] === 'string') fields.context = rest.pop();
    if (level === 'error' && typeof rest[0] === 'string') fields.trace = rest.shift();
    if (message instanceof Error) {
      fields.error = message.message;
      fields.trace ??= message.stack;
    }
    if (message !== null && typeof message === 'object' && !(message instanceof Error))
      this.logger[level]({ ...fields, ...message }, 'msg' in message ? String(message.msg) : '');
    else this.logger[level](fields, message instanceof Error ? message.message : String(message));
  }
}
