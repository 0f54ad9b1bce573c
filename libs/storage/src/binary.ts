/**
 * Binary columns travel as hex text. JSON (the row format used with chDB and servers alike) cannot carry
 * arbitrary bytes: bytes ≥ 0x80 are read as UTF-8 and the chDB connection re-encodes insert bodies as UTF-8
 * text, so RowBinary bodies are corrupted too. Hex is plain ASCII and survives every hop.
 *
 *   write: table has `<col>_hex String EPHEMERAL` + `<col> String DEFAULT unhex(<col>_hex)` and insertRows()
 *          sends Uint8Array values of `<col>` as `<col>_hex`; or use `unhex({p:String})` with hexParam(bytes).
 *   read:  select `hex(<col>) AS <col>` and name it in query(..., { binaryColumns: ['<col>'] }).
 */

/** Suffix of the EPHEMERAL column that receives a binary column's hex text on insert. */
export const HEX_SUFFIX = '_hex';

export function bytesToHex(bytes: Uint8Array): string {
  return Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString('hex');
}

/** Decodes hex text as produced by ClickHouse's hex() (upper case) or bytesToHex (lower case). */
export function hexToBytes(hex: string): Buffer {
  // Buffer.from stops at the first pair that is not hex, so a short result is the check (a regular expression over
  // tens of MB of sketches cost more than the decoding).
  const out = Buffer.from(hex, 'hex');
  if (out.length * 2 !== hex.length) {
    throw new TypeError(`not hex text (length ${hex.length}): select binary columns as hex(column)`);
  }
  return out;
}

/** A query-parameter value carrying bytes: pair it with `unhex({name:String})` in the SQL. */
export function hexParam(bytes: Uint8Array): string {
  return bytesToHex(bytes);
}
