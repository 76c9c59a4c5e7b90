/** A timestamptz column as the API's ISO-8601 UTC text with milliseconds. */
export const iso = (col: string): string => `to_char(${col} AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"')`;
