// Settings the window merger and accumulator specs share (not part of the library build).

/** A minute boundary. */
export const T0 = 1_767_225_600_000;
/** Wall clock of the specs: an hour after T0, so no test snapshot is in the future. */
export const NOW = T0 + 3_600_000;
export const MERGER_OPTIONS = {
  windowMs: 60_000,
  allowedLatenessMs: 30_000,
  idleCloseMs: 5_000,
  maxFutureMs: 3_600_000,
  maxOpenWindows: 6,
};
