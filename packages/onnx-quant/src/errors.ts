/** What went wrong, as a stable code a control plane can map to a user-facing message. */
export type OnnxQuantErrorCode = 'invalid_onnx' | 'external_data' | 'invalid_input_spec' | 'invalid_calibration_data' | 'baseline_failed';

/** The only error this package throws on bad input; `code` says which problem it is. */
export class OnnxQuantError extends Error {
  override readonly name = 'OnnxQuantError';

  constructor(
    readonly code: OnnxQuantErrorCode,
    message: string,
    options?: { cause?: unknown },
  ) {
    super(message, options);
  }
}
