// Avro "Parsing Canonical Form" and the CRC-64-AVRO (64-bit Rabin) fingerprint, both as the Avro specification
// defines them: the single-object encoding identifies a message's writer schema by this fingerprint.
// Computed once per known schema at start-up, so clarity (BigInt) wins over speed here.

const PRIMITIVES = new Set(['null', 'boolean', 'int', 'long', 'float', 'double', 'bytes', 'string']);
/** [STRIP] and [ORDER]: the only attributes kept, in this order. */
const COMPLEX = new Set(['record', 'error', 'enum', 'fixed', 'array', 'map']);
const KEPT = ['name', 'type', 'fields', 'symbols', 'items', 'values', 'size'] as const;

type Json = null | boolean | number | string | Json[] | { [key: string]: Json };

/** Full name of a named type: a dotted name is already full, otherwise it takes the enclosing namespace. */
function fullName(name: string, namespace: string | undefined): string {
  return name.includes('.') || !namespace ? name : `${namespace}.${name}`;
}

function namespaceOf(full: string): string | undefined {
  const dot = full.lastIndexOf('.');
  return dot < 0 ? undefined : full.slice(0, dot);
}

function canonical(schema: unknown, namespace: string | undefined, seen: Set<string>): Json {
  if (typeof schema === 'string') {
    // [PRIMITIVES] stay bare; references to named types become full names.
    return PRIMITIVES.has(schema) ? schema : fullName(schema, namespace);
  }
  if (Array.isArray(schema)) return schema.map((s) => canonical(s, namespace, seen));
  if (schema === null || typeof schema !== 'object') throw new TypeError(`not an Avro schema: ${String(schema)}`);
  const obj = schema as Record<string, unknown>;
  const type = obj.type;
  if (typeof type !== 'string') return canonical(type, namespace, seen); // {"type": {...}} or {"type": [...]}
  if (PRIMITIVES.has(type)) return type; // {"type":"long","logicalType":...} → "long"
  if (!COMPLEX.has(type)) return canonical(type, namespace, seen); // {"type":"Name"}: a reference to a named type
  const out: { [key: string]: Json } = {};
  let inner = namespace;
  if (type === 'record' || type === 'error' || type === 'enum' || type === 'fixed') {
    // An explicit empty namespace means the null namespace, not the enclosing one.
    const explicit = typeof obj.namespace === 'string' ? obj.namespace || undefined : namespace;
    const name = fullName(String(obj.name), explicit);
    inner = namespaceOf(name);
    if (seen.has(name)) return name;
    seen.add(name);
    out.name = name;
  }
  for (const key of KEPT) {
    if (key === 'name' || !(key in obj)) continue;
    const value = obj[key];
    switch (key) {
      case 'type':
        out.type = type === 'error' ? 'record' : type;
        break;
      case 'fields':
        out.fields = (value as Array<Record<string, unknown>>).map((f) => ({
          name: String(f.name),
          type: canonical(f.type, inner, seen),
        }));
        break;
      case 'items':
      case 'values':
        out[key] = canonical(value, inner, seen);
        break;
      case 'symbols':
        out.symbols = (value as unknown[]).map(String);
        break;
      case 'size':
        out.size = Number(value);
        break;
    }
  }
  return out;
}

/** The Parsing Canonical Form of a schema given as parsed JSON (what JSON.parse of an .avsc returns). */
export function parsingCanonicalForm(schema: unknown): string {
  // JSON.stringify gives [STRINGS] (escapes), [INTEGERS] (no leading zeros) and [WHITESPACE] (none).
  return JSON.stringify(canonical(schema, undefined, new Set()));
}

const EMPTY = 0xc15d213aa4d7a795n;
const MASK64 = (1n << 64n) - 1n;
const TABLE: bigint[] = (() => {
  const table: bigint[] = [];
  for (let i = 0; i < 256; i++) {
    let fp = BigInt(i);
    for (let j = 0; j < 8; j++) fp = (fp >> 1n) ^ (EMPTY & -(fp & 1n) & MASK64);
    table.push(fp);
  }
  return table;
})();

/** CRC-64-AVRO of raw bytes, as an unsigned 64-bit BigInt. */
export function rabin64(bytes: Uint8Array): bigint {
  let fp = EMPTY;
  for (const b of bytes) fp = (fp >> 8n) ^ TABLE[Number((fp ^ BigInt(b)) & 0xffn)];
  return fp;
}

/** The 8-byte fingerprint of a schema as it appears on the wire (little-endian), per the single-object encoding. */
export function schemaFingerprint(schema: unknown): Buffer {
  const out = Buffer.alloc(8);
  out.writeBigUInt64LE(rabin64(Buffer.from(parsingCanonicalForm(schema), 'utf8')));
  return out;
}
