// Exact counts on the wire. Stored totals are UInt64 and sums over many rows (hours, partitions, hosts) pass 2^53,
// beyond which no JSON number is read exactly by a JavaScript client: such a count is sent as its decimal text.
const MAX_SAFE = BigInt(Number.MAX_SAFE_INTEGER);

/** `c` as a JSON number while it is ≤ 2^53 − 1, as decimal text beyond. */
export function wireCount(c: bigint): number | string {
  return c <= MAX_SAFE ? Number(c) : c.toString();
}

export const COUNT_DESCRIPTION =
  'An exact count: a JSON number up to 2^53 − 1 (9007199254740991), its decimal text beyond (up to 2^64 per row, more in sums)';

/** OpenAPI schema of a wireCount() value. */
export const countSchema = {
  description: COUNT_DESCRIPTION,
  oneOf: [
    { type: 'integer', minimum: 0, maximum: Number.MAX_SAFE_INTEGER },
    { type: 'string', pattern: '^[1-9][0-9]{15,}$' },
  ],
};
