/** A JSON value as stored in a jsonb column (the shape repositories accept without their client's types). */
export type JsonValue = string | number | boolean | null | JsonValue[] | { [key: string]: JsonValue | undefined };
