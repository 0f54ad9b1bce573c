import { ConfigError } from '@tma/config';
import { NestLogger, createLogger, logLevelFromEnv } from './logger';

function capture(level?: 'debug' | 'info', env: NodeJS.ProcessEnv = {}) {
  const lines: Record<string, unknown>[] = [];
  const logger = createLogger({
    component: 'test',
    level,
    env,
    destination: { write: (l) => lines.push(JSON.parse(l)) },
  });
  return { logger, lines };
}

describe('createLogger', () => {
  it('writes one JSON object per line with time, level, component, msg and the context fields', () => {
    const { logger, lines } = capture();
    logger.info({ host: 'h1', error: new Error('boom') }, 'snapshot');
    expect(lines).toEqual([
      {
        time: expect.stringMatching(/^\d{4}-\d\d-\d\dT/),
        level: 'info',
        component: 'test',
        msg: 'snapshot',
        host: 'h1',
        error: 'boom',
      },
    ]);
  });

  it('takes its level from TMA_LOG_LEVEL, default info', () => {
    expect(logLevelFromEnv({})).toBe('info');
    expect(logLevelFromEnv({ TMA_LOG_LEVEL: 'debug' })).toBe('debug');
    expect(() => logLevelFromEnv({ TMA_LOG_LEVEL: 'loud' })).toThrow(ConfigError);
    expect(() => logLevelFromEnv({ TMA_LOG_LEVEL: 'loud' })).toThrow(/TMA_LOG_LEVEL: "loud" must be one of trace/);
    const bad = capture(undefined, { TMA_LOG_LEVEL: 'loud' });
    bad.logger.info('still logged');
    expect(bad.lines).toMatchObject([
      { level: 'warn', msg: expect.stringMatching(/^TMA_LOG_LEVEL: "loud" must be one of .*; logging at info$/) },
      { level: 'info', msg: 'still logged' },
    ]);
    const quiet = capture(undefined, { TMA_LOG_LEVEL: 'warn' });
    quiet.logger.info('hidden');
    quiet.logger.warn('shown');
    expect(quiet.lines.map((l) => l.msg)).toEqual(['shown']);
  });
});

describe('NestLogger', () => {
  it("keeps Nest's context and error trace as fields", () => {
    const { logger, lines } = capture('debug');
    const nest = new NestLogger(logger);
    nest.log('joined', 'Aggregator');
    nest.error('crashed', 'Error: x\n    at y', 'Aggregator');
    nest.warn({ msg: 'slow', ms: 5 });
    nest.verbose('not at debug');
    expect(lines).toMatchObject([
      { level: 'info', msg: 'joined', context: 'Aggregator', component: 'test' },
      { level: 'error', msg: 'crashed', context: 'Aggregator', trace: 'Error: x\n    at y' },
      { level: 'warn', msg: 'slow', ms: 5 },
    ]);
    expect(lines).toHaveLength(3);
  });
});
