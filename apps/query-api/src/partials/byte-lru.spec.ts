import { ByteLru } from './byte-lru';

describe('ByteLru', () => {
  const lru = () => new ByteLru<string>(10, (v) => v.length);

  it('keeps values within the byte budget and evicts the least recently used first', () => {
    const c = lru();
    c.set('a', 'xxxx');
    c.set('b', 'xxxx');
    expect(c.get('a')).toBe('xxxx'); // a is now the most recent
    c.set('c', 'xxxx'); // 12 bytes: b goes
    expect(c.get('b')).toBeUndefined();
    expect(c.get('a')).toBe('xxxx');
    expect(c.get('c')).toBe('xxxx');
    expect(c.bytes).toBe(8);
  });

  it('replaces a key without counting it twice, and never keeps a value larger than the budget', () => {
    const c = lru();
    c.set('a', 'xxxx');
    c.set('a', 'xxxxxx');
    expect(c.bytes).toBe(6);
    c.set('big', 'x'.repeat(11));
    expect(c.get('big')).toBeUndefined();
    expect(c.bytes).toBe(6);
  });
});
