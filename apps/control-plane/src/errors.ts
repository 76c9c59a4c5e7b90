/** Error codes the API returns; each maps to one HTTP status. */
export const ERROR_STATUS = {
  invalid_request: 400,
  invalid_model: 422,
  unauthorized: 401,
  forbidden: 403,
  not_found: 404,
  conflict: 409,
  payload_too_large: 413,
  range_not_satisfiable: 416,
  rate_limited: 429,
  unavailable: 503,
  /** Part of a change was applied and the rest was not; the details say exactly which part. */
  incomplete: 500,
} as const;

export type ErrorCode = keyof typeof ERROR_STATUS;

/** The message of every refused upload (the body limit and multer's file limit say the same). */
export const UPLOAD_TOO_LARGE = 'the upload is larger than MAX_UPLOAD_MB allows';

/** A typed error raised inside the control plane and translated once at each edge. */
export class AppError extends Error {
  constructor(
    readonly code: ErrorCode,
    message: string,
    /** Structured facts for the caller (no secrets), returned beside the message. */
    readonly details?: Record<string, unknown>,
  ) {
    super(message);
    this.name = 'AppError';
  }

  get status(): number {
    return ERROR_STATUS[this.code];
  }
}
