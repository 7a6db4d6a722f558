"use strict";
Object.defineProperty(exports, "__esModule", { value: true });
exports.collectionNotFound = exports.notImplemented = exports.validationError = exports.formatError = exports.forbidden = exports.alreadyExists = exports.badRequest = exports.wrongInput = exports.notFound = exports.ApiError = void 0;
/**
 * Errors that become HTTP responses. The message prefixes ("Not found: ", "Wrong input: ", ...)
 * copy Qdrant's `StorageError` Display impls (lib/storage/src/content_manager/errors.rs) so that
 * code matching on error text sees what a real server would send.
 */
class ApiError extends Error {
    httpStatus;
    constructor(httpStatus, message) {
        super(message);
        this.httpStatus = httpStatus;
    }
}
exports.ApiError = ApiError;
const notFound = (what) => new ApiError(404, `Not found: ${what}`);
exports.notFound = notFound;
const wrongInput = (what) => new ApiError(400, `Wrong input: ${what}`);
exports.wrongInput = wrongInput;
const badRequest = (what) => new ApiError(400, `Bad request: ${what}`);
exports.badRequest = badRequest;
const alreadyExists = (what) => new ApiError(409, `Wrong input: ${what}`);
exports.alreadyExists = alreadyExists;
const forbidden = (what) => new ApiError(403, `Forbidden: ${what}`);
exports.forbidden = forbidden;
/** Body that is not valid JSON or has the wrong shape: actix/serde deserialisation failure, 400. */
const formatError = (what) => new ApiError(400, `Format error in JSON body: ${what}`);
exports.formatError = formatError;
/** Well-formed body failing `validator` rules (ranges etc.): Qdrant answers 422. */
const validationError = (where, what) => new ApiError(422, `Validation error in ${where}: [${what}]`);
exports.validationError = validationError;
/** Features the stand-in deliberately does not emulate; kept distinct so nobody mistakes them for Qdrant errors. */
const notImplemented = (what) => new ApiError(400, `stand-in: ${what} is not implemented`);
exports.notImplemented = notImplemented;
const collectionNotFound = (name) => (0, exports.notFound)(`Collection \`${name}\` doesn't exist!`);
exports.collectionNotFound = collectionNotFound;
