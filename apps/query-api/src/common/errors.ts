// A request the API refuses: names the field (query parameter or GraphQL argument) and says why, so a 400 is
// actionable without reading the docs.
export class InvalidInputError extends Error {
  override name = 'InvalidInputError';
  constructor(
    readonly field: string,
    readonly reason: string,
  ) {
    super(`${field}: ${reason}`);
  }
}
