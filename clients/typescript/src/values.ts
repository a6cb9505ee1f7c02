/** A point in time: a `Date`, or Unix epoch milliseconds (never seconds). Sent as epoch milliseconds. */
export type TimeInput = Date | number;

/** A 64-bit integer: a safe integer `number`, or a `bigint` for larger values. */
export type IntegerInput = number | bigint;

/** A JSON object (never an array or a scalar): archived as `jsonb`. */
export interface JsonObject {
  readonly [key: string]: unknown;
}
