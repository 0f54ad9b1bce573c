import { chunkBySize, deadLetter, DLQ_VALUE_BYTES } from './dead-letters';

describe('dead letters', () => {
  it('cut an oversized value and say how large it was', () => {
    const big = Buffer.alloc(DLQ_VALUE_BYTES + 10, 7);
    const l = deadLetter(Buffer.from('h1'), big, { 'tma-dlq-reason': 'truncated' });
    expect(l.value!.length).toBe(DLQ_VALUE_BYTES);
    expect(l.headers['tma-dlq-truncated-from']).toBe(String(DLQ_VALUE_BYTES + 10));
    expect(l.headers['tma-dlq-reason']).toBe('truncated');
  });

  it('keep a small value whole', () => {
    const l = deadLetter(null, Buffer.from('abc'), {});
    expect(l.value!.toString()).toBe('abc');
    expect(l.headers['tma-dlq-truncated-from']).toBeUndefined();
  });

  it('go out in produce requests under the byte budget, in order, none lost', () => {
    const letters = Array.from({ length: 10 }, (_, i) => deadLetter(null, Buffer.alloc(200 * 1024, i), {}));
    const chunks = chunkBySize(letters, 512 * 1024);
    expect(chunks.flat()).toEqual(letters);
    for (const c of chunks) {
      const bytes = c.reduce((n, l) => n + l.value!.length, 0);
      expect(bytes).toBeLessThanOrEqual(512 * 1024);
    }
    expect(chunks.length).toBe(5);
  });
});
