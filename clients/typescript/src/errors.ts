/**
 * A write the contract refuses, found by the package before anything was sent (`source: "client"`) or by
 * `write-record.lua` in Redis (`source: "redis"`). The message has the script's form: entity, id, then the problem, e.g.
 * `message m-42: updatedAt 1796231208 looks like seconds; send epoch milliseconds or "*"`.
 * A refused write changed nothing. It is a bug in the caller: retrying the same write fails the same way.
 */
export class WriteRefusedError extends Error {
  /** The entity (`user`, `session`, `message`, `attachment`), when known. */
  readonly entity: string | undefined;
  /** The record id, when known. */
  readonly id: string | undefined;
  /** The field the problem is about (`updatedAt` for the write's stamp), when there is one. */
  readonly field: string | undefined;
  /** Who refused: this package's validation, or the Lua writer in Redis. */
  readonly source: "client" | "redis";

  constructor(message: string, details: { entity?: string; id?: string; field?: string; source: "client" | "redis" }) {
    super(message);
    this.name = "WriteRefusedError";
    this.entity = details.entity;
    this.id = details.id;
    this.field = details.field;
    this.source = details.source;
  }
}
