// Typed errors: decoders throw SketchDecodeError subclasses and never return partial state; merges throw
// IncompatibleSketchError and leave both sketches unchanged.

/** Base class of every error thrown while decoding a serialized sketch. */
export class SketchDecodeError extends Error {
  constructor(message: string) {
    super(message);
    this.name = new.target.name;
  }
}

/** The buffer ends before the header or the payload it announces. */
export class TooShortError extends SketchDecodeError {}

/** The format version (or sketch specification version) is not one this library reads. */
export class BadVersionError extends SketchDecodeError {}

/** The sketch is well formed but its family, parameters or seed hash differ from what the reader expects. */
export class IncompatibleParametersError extends SketchDecodeError {}

/** The bytes are not a valid sketch: bad magic, bad encoding, out-of-range values, inconsistent content. */
export class CorruptError extends SketchDecodeError {}

/** Merge refused: different parameters, seed or hash, or a sketch merged with itself. */
export class IncompatibleSketchError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'IncompatibleSketchError';
  }
}

/** Throws the IncompatibleSketchError of a refused merge when `why` (an incompatibility) is set. */
export function refuseMergeIf(family: 'CMS' | 'HLL', why: string | null | undefined): void {
  if (why) throw new IncompatibleSketchError(`${family} merge refused: ${why}`);
}

/** The incompatibility of a sketch with itself (merging would double it while reading it). */
export function selfMerge(a: object, b: object): string | null {
  return a === b ? 'cannot merge a sketch with itself' : null;
}
