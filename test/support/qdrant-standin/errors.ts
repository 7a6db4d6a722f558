/**
 * Errors that become HTTP responses. The message prefixes ("Not found: ", "Wrong input: ", ...)
 * copy Qdrant's `StorageError` Display impls (lib/storage/src/content_manager/errors.rs) so that
 * code matching on error text sees what a real server would send.
 */
export class ApiError extends Error {
  constructor(
    readonly httpStatus: number,
    message: string,
  ) {
    super(message);
  }
}

export const notFound = (what: string): ApiError => new ApiError(404, `Not found: ${what}`);
export const wrongInput = (what: string): ApiError => new ApiError(400, `Wrong input: ${what}`);
export const badRequest = (what: string): ApiError => new ApiError(400, `Bad request: ${what}`);
export const alreadyExists = (what: string): ApiError => new ApiError(409, `Wrong input: ${what}`);
export const forbidden = (what: string): ApiError => new ApiError(403, `Forbidden: ${what}`);
/** Body that is not valid JSON or has the wrong shape: actix/serde deserialisation failure, 400. */
export const formatError = (what: string): ApiError => new ApiError(400, `Format error in JSON body: ${what}`);
/** Well-formed body failing `validator` rules (ranges etc.): Qdrant answers 422. */
export const validationError = (where: string, what: string): ApiError =>
  new ApiError(422, `Validation error in ${where}: [${what}]`);
/** Features the stand-in deliberately does not emulate; kept distinct so nobody mistakes them for Qdrant errors. */
export const notImplemented = (what: string): ApiError => new ApiError(400, `stand-in: ${what} is not implemented`);

export const collectionNotFound = (name: string): ApiError => notFound(`Collection \`${name}\` doesn't exist!`);
