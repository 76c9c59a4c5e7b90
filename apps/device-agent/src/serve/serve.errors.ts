/** A request the local inference API answers with the protocol's `{"error": "..."}` and this status. */
export class ServeError extends Error {
  constructor(
    readonly status: number,
    message: string,
    readonly headers: Readonly<Record<string, string>> = {},
  ) {
    super(message);
    this.name = 'ServeError';
  }
}

export class BadRequest extends ServeError {
  constructor(message: string) {
    super(400, message);
  }
}

export class NotFound extends ServeError {
  constructor(message: string) {
    super(404, message);
  }
}
