import { ConfigError } from './errors';
import {
  formatDuration,
  parseBoolean,
  parseDuration,
  parseEnum,
  parseHostPorts,
  parseInteger,
  parseName,
  parseSize,
} from './parsers';

describe('parseDuration', () => {
  it('reads ms, s, m, h and d, with decimals', () => {
    expect(parseDuration('500ms')).toBe(500);
    expect(parseDuration('10s')).toBe(10_000);
    expect(parseDuration(' 1.5s ')).toBe(1500);
    expect(parseDuration('2m')).toBe(120_000);
    expect(parseDuration('12h')).toBe(43_200_000);
    expect(parseDuration('7d')).toBe(604_800_000);
  });

  it('takes a bare number as ms only when asked', () => {
    expect(parseDuration('250', { bareMs: true })).toBe(250);
    expect(parseDuration(250, { bareMs: true })).toBe(250);
    expect(() => parseDuration('250')).toThrow(ConfigError);
    expect(() => parseDuration(250)).toThrow(/is not a duration like 10s/);
  });

  it('refuses what is not a duration or out of bounds', () => {
    expect(() => parseDuration('soon')).toThrow('"soon" is not a duration like 10s, 500ms, 2m, 12h or 7d');
    expect(() => parseDuration('10 weeks')).toThrow(/not a duration/);
    expect(() => parseDuration('500ms', { min: 1000, max: 300_000 })).toThrow('500 ms is outside 1s..300s');
    expect(() => parseDuration('2d', { min: 0, max: 86_400_000 })).toThrow('172800000 ms is outside 0ms..24h');
  });

  it('formats bounds in a readable unit', () => {
    expect([100, 1000, 300_000, 600_000, 3_600_000, 7 * 86_400_000].map(formatDuration)).toEqual([
      '100ms',
      '1s',
      '300s',
      '600s',
      '60m',
      '168h',
    ]);
  });
});

describe('other parsers', () => {
  it('sizes', () => {
    expect(parseSize('64Mi')).toBe(64 * 1024 ** 2);
    expect(parseSize('1G')).toBe(1e9);
    expect(parseSize('2kiB')).toBe(2048);
    expect(parseSize(4096)).toBe(4096);
    expect(() => parseSize('1000', { min: 1024 ** 2 })).toThrow('1000 bytes is below the 1 MiB minimum');
    expect(() => parseSize('lots')).toThrow(/not a size/);
  });

  it('integers with bounds', () => {
    expect(parseInteger(' 42 ', { min: 0, max: 100 })).toBe(42);
    expect(parseInteger(7, { min: 0, max: 100 })).toBe(7);
    expect(() => parseInteger('1.5', { min: 0, max: 100 })).toThrow('"1.5" must be an integer from 0 to 100');
    expect(() => parseInteger('5s', { min: 100, max: 1000, unit: 'milliseconds' })).toThrow(
      '"5s" must be a whole number of milliseconds from 100 to 1000',
    );
  });

  it('booleans, enums, names and host:port lists', () => {
    expect(parseBoolean('1')).toBe(true);
    expect(parseBoolean(false)).toBe(false);
    expect(parseBoolean('off', { yes: ['on'], no: ['off'] })).toBe(false);
    expect(() => parseBoolean('yes')).toThrow('"yes" must be true or false');
    expect(parseEnum('b', ['a', 'b'])).toBe('b');
    expect(() => parseEnum('B', ['a', 'b'])).toThrow('"B" must be one of a, b');
    expect(parseName(' tma.v1 ')).toBe('tma.v1');
    expect(() => parseName('a/b')).toThrow(/may hold only letters/);
    expect(parseHostPorts('k1:9093, [::1]:9094')).toEqual(['k1:9093', '[::1]:9094']);
    expect(() => parseHostPorts(' , ')).toThrow(/empty/);
    expect(() => parseHostPorts('h:70000')).toThrow('"h:70000" is not host:port');
  });
});
