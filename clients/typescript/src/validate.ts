// Client-side validation: the checks of write-record.lua, in the same order and with the same messages, on the values
// as they will be sent. The facts (required fields, kinds, allowed values, time bounds) come from generated/rules.ts,
// rendered from the same entity descriptors as the script's rules block. The Lua writer stays the final judge: it
// compares times with the Redis clock, and only it knows whether a merge creates a new record.
import { WriteRefusedError } from "./errors.js";
import { EARLIEST_MS, EARLIEST_TEXT, ENTITY_NAMES, MAX_AHEAD_MS, MAX_AHEAD_TEXT, RULES, type EntityName, type EntityRules } from "./generated/rules.js";

export type WriteMode = "merge" | "replace";
export type WriteCondition = "always" | "if-newer";

/** The write's `updatedAt`: `"*"` stamps it from the Redis server clock (recommended), or a Date / epoch milliseconds. */
export type Stamp = "*" | Date | number;

/** Fields the archive does not map: kept in the row's `extra` jsonb column as `{ "field": "value" }`. */
export interface ExtraFields {
  extra?: Readonly<Record<string, string>>;
}

/** What the script receives: ARGV[1..4] and the field/value pairs. */
export interface EncodedWrite {
  readonly id: string;
  readonly updatedAt: string;
  readonly mode: WriteMode;
  readonly condition: WriteCondition;
  readonly fields: readonly string[];
}

const SET_BY_WRITER_HINT: Readonly<Record<string, string>> = {
  updatedAt: "updatedAt is set by the writer from the write's stamp; pass { stamp } instead",
};

/** The rules of an entity, or a refusal naming the known ones. */
export function rulesOf(entity: string): EntityRules {
  if (!Object.prototype.hasOwnProperty.call(RULES, entity)) {
    throw new WriteRefusedError(`unknown entity ${show(String(entity))}; the writer knows ${ENTITY_NAMES}`, { source: "client" });
  }
  return RULES[entity as EntityName];
}

/** A value as it appears in an error: digits as they are, anything else quoted, long values cut (as the script does). */
export function show(value: string): string {
  if (/^-?\d+$/.test(value) && value.length <= 24) {
    return value;
  }
  if (value.length > 60) {
    value = value.slice(0, 60) + "...";
  }
  return `"${value}"`;
}

/** An id as it appears in an error: as it is when it is plain, quoted otherwise. */
export function showId(value: string): string {
  if (value.length <= 60 && /^[A-Za-z0-9_.\-:]+$/.test(value)) {
    return value;
  }
  return show(value);
}

/** Why an epoch-ms number is implausible, or undefined. `now` is the local clock here, the Redis clock in the script. */
export function msProblem(n: number, now: number): string | undefined {
  const latest = now + MAX_AHEAD_MS;
  if (n >= EARLIEST_MS && n <= latest) {
    return undefined;
  }
  if (n <= 0) {
    return "is not a positive epoch milliseconds value";
  }
  if (n >= EARLIEST_MS / 1000 && n <= latest / 1000) {
    return "looks like seconds";
  }
  if (n >= EARLIEST_MS * 1000 && n <= latest * 1000) {
    return "looks like microseconds";
  }
  if (n >= EARLIEST_MS * 1000000 && n <= latest * 1000000) {
    return "looks like nanoseconds";
  }
  if (n > latest) {
    return `lies more than ${MAX_AHEAD_TEXT} ahead of the Redis clock (${msText(now)})`;
  }
  return `lies before ${EARLIEST_TEXT} (${msText(EARLIEST_MS)})`;
}

function msText(n: number): string {
  return String(Math.round(n));
}

/** ISO-8601 `YYYY-MM-DDTHH:MM:SS[.f{1,7}][Z|±HH:MM]` (no offset = UTC) to epoch ms, or undefined (the script's iso_ms). */
export function isoMs(text: string): number | undefined {
  const match = /^(\d{4})-(\d{2})-(\d{2})T(\d{2}):(\d{2}):(\d{2})(.*)$/s.exec(text);
  if (!match) {
    return undefined;
  }
  let rest = match[7]!;
  let fraction = 0;
  const digits = /^\.(\d+)/.exec(rest);
  if (digits) {
    if (digits[1]!.length > 7) {
      return undefined;
    }
    fraction = Number((digits[1]! + "00").slice(0, 3));
    rest = rest.slice(digits[1]!.length + 1);
  }
  let offset = 0;
  if (rest !== "" && rest !== "Z") {
    const zone = /^([+-])(\d{2}):(\d{2})$/.exec(rest);
    if (!zone) {
      return undefined;
    }
    const oh = Number(zone[2]);
    const om = Number(zone[3]);
    if (oh > 14 || om > 59) {
      return undefined;
    }
    offset = (oh * 60 + om) * 60000 * (zone[1] === "-" ? -1 : 1);
  }
  const [y, mo, d, h, mi, s] = match.slice(1, 7).map(Number) as [number, number, number, number, number, number];
  if (mo < 1 || mo > 12 || d < 1 || h > 23 || mi > 59 || s > 59) {
    return undefined;
  }
  const leap = y % 4 === 0 && (y % 100 !== 0 || y % 400 === 0);
  const last = [31, leap ? 29 : 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31][mo - 1]!;
  if (d > last) {
    return undefined;
  }
  return Date.UTC(y, mo - 1, d, h, mi, s) + fraction - offset;
}

function isInt64(text: string): boolean {
  const match = /^(-?)(\d+)$/.exec(text);
  if (!match || match[2]!.length > 19) {
    return false;
  }
  if (match[2]!.length === 19) {
    return match[2]! <= (match[1] === "-" ? "9223372036854775808" : "9223372036854775807");
  }
  return true;
}

/** Why a field value breaks its rule, or undefined (the script's field_problem). */
export function fieldProblem(rules: EntityRules, name: string, value: string, now: number): string | undefined {
  const kind = rules.kinds[name];
  const allowed = rules.allowed[name];
  if (value === "") {
    if (rules.required.includes(name)) {
      return `required field ${name} is empty`;
    }
    if (!allowed) {
      return undefined; // "" in a typed field means no value (deletedAt "" = not deleted)
    }
  }
  if (allowed) {
    return allowed.includes(value) ? undefined : `${name} ${show(value)} must be one of ${allowed.join("|")}`;
  }
  if (kind === "timestamp") {
    const hint = "; send epoch milliseconds" + (name === "deletedAt" ? ', or "" for not deleted' : "");
    let problem: string | undefined;
    if (/^-?\d+$/.test(value)) {
      problem = msProblem(Number(value), now);
    } else {
      const n = isoMs(value);
      if (n === undefined) {
        problem = "is neither epoch milliseconds nor ISO-8601 (YYYY-MM-DDTHH:MM:SS[.fff][Z|+HH:MM])";
      } else if (n < EARLIEST_MS) {
        problem = `lies before ${EARLIEST_TEXT}`;
      } else if (n > now + MAX_AHEAD_MS) {
        problem = msProblem(n, now);
      }
    }
    return problem && `${name} ${show(value)} ${problem}${hint}`;
  }
  if (kind === "integer") {
    return isInt64(value) ? undefined : `${name} ${show(value)} is not a 64-bit decimal integer`;
  }
  if (kind === "json") {
    if (!/^[ \t\r\n]*\{/.test(value)) {
      return `${name} ${show(value)} is not a JSON object`;
    }
    try {
      JSON.parse(value);
    } catch {
      return `${name} ${show(value)} is not valid JSON`;
    }
    if (value.includes("\\u0000")) {
      return `${name} contains \\u0000, which PostgreSQL jsonb cannot store`;
    }
  }
  return undefined;
}

/**
 * Checks an encoded write as the script does, before anything is sent; throws {@link WriteRefusedError} naming the
 * entity, the id and the field. `now` is the local clock (the script uses the Redis clock for the upper bound).
 */
export function checkWrite(entity: string, write: EncodedWrite, now: number = Date.now()): void {
  const rules = rulesOf(entity);
  const { id } = write;
  const refuse = (problem: string, field?: string): never => {
    throw new WriteRefusedError(`${entity} ${showId(id)}: ${problem}`, { entity, id, field, source: "client" });
  };
  if (typeof id !== "string" || id === "" || id.includes("\0")) {
    refuse("the id must be non-empty text without NUL", "id");
  }
  if (write.fields.length % 2 !== 0) {
    refuse(`${write.fields.length} field arguments passed; fields come as field, value pairs (an even count)`);
  }
  if (write.mode !== "merge" && write.mode !== "replace") {
    refuse(`mode ${show(String(write.mode))} must be exactly merge or replace`);
  }
  if (write.condition !== "always" && write.condition !== "if-newer") {
    refuse(`condition ${show(String(write.condition))} must be exactly always or if-newer`);
  }
  if (write.updatedAt !== "*") {
    if (!/^-?\d+$/.test(write.updatedAt)) {
      refuse(`updatedAt ${show(write.updatedAt)} is not whole epoch milliseconds; send epoch milliseconds or "*"`, "updatedAt");
    }
    const problem = msProblem(Number(write.updatedAt), now);
    if (problem) {
      refuse(`updatedAt ${show(write.updatedAt)} ${problem}; send epoch milliseconds or "*"`, "updatedAt");
    }
  }
  const seen = new Set<string>();
  for (let i = 0; i < write.fields.length; i += 2) {
    const name = write.fields[i]!;
    const value = write.fields[i + 1]!;
    if (name.includes("\0")) {
      refuse(`field name ${show(name)} contains NUL`, name);
    }
    if (value.includes("\0")) {
      refuse(`${name} contains NUL, which PostgreSQL text cannot store`, name);
    }
    if (name === "id" && value !== id) {
      refuse(`field id ${show(value)} differs from ARGV[1] ${showId(id)}`, "id");
    }
    if (Object.prototype.hasOwnProperty.call(rules.kinds, name)) {
      const problem = fieldProblem(rules, name, value, now);
      if (problem) {
        refuse(problem, name);
      }
      seen.add(name);
    }
  }
  const missing = rules.required.filter(name => !seen.has(name));
  // A merge into an existing hash may leave required fields out; only the script knows whether the hash exists.
  if (missing.length > 0 && write.mode === "replace") {
    refuse(`a replace must carry every required field; missing: ${missing.join(", ")}`, missing[0]);
  }
}

/** Encodes a stamp as the script's ARGV[2]. */
export function encodeStamp(stamp: Stamp | undefined): string {
  if (stamp === undefined || stamp === "*") {
    return "*";
  }
  return encodeTime(stamp);
}

function encodeTime(value: unknown): string {
  if (value instanceof Date) {
    const ms = value.getTime();
    return Number.isNaN(ms) ? "Invalid Date" : String(ms);
  }
  if (typeof value === "number") {
    return numberText(value);
  }
  return String(value);
}

function numberText(n: number): string {
  // As JavaScript writes it: whole numbers below 1e21 as plain digits; 12.5, 1e+21 or NaN are then refused by the
  // checks with the script's own message.
  return String(n);
}

/**
 * Turns a typed record into the script's field/value pairs: times as epoch milliseconds, integers as decimal text,
 * `metadata` as JSON, `null` as `""` (no value), `extra` as fields of their own. `id` and `updatedAt` are not sent
 * (the script sets them). Refuses what cannot be sent faithfully: a property that is neither a mapped field nor in
 * `extra`, a non-string text value, an unsafe integer `number` (use a bigint), a value JSON cannot represent.
 */
export function encodeFields(entity: string, record: Readonly<Record<string, unknown>> & ExtraFields): string[] {
  const rules = rulesOf(entity);
  if (record === null || typeof record !== "object") {
    throw new WriteRefusedError(`${entity}: the record must be an object with an id`, { entity, source: "client" });
  }
  const id = typeof record.id === "string" ? record.id : String(record.id);
  const refuse = (problem: string, field: string): never => {
    throw new WriteRefusedError(`${entity} ${showId(id)}: ${problem}`, { entity, id, field, source: "client" });
  };
  const fields: string[] = [];
  for (const [name, value] of Object.entries(record)) {
    if (name === "id" || name === "extra" || value === undefined) {
      continue;
    }
    const kind = rules.kinds[name];
    if (kind === undefined) {
      refuse(SET_BY_WRITER_HINT[name] ?? `${show(name)} is not a field of ${entity}; put fields the archive does not map in extra`, name);
    }
    let text: string;
    if (value === null) {
      if (kind === "text") {
        refuse(`${name} is null; a text field takes a string ("" is kept as an empty string)`, name);
      }
      text = "";
    } else if (kind === "text") {
      if (typeof value !== "string") {
        refuse(`${name} must be a string, not ${typeof value}`, name);
      }
      text = value as string;
    } else if (kind === "timestamp") {
      text = encodeTime(value);
    } else if (kind === "integer") {
      if (typeof value === "number" && Number.isInteger(value) && !Number.isSafeInteger(value)) {
        refuse(`${name} ${value} is beyond Number.MAX_SAFE_INTEGER and may have lost digits; pass a bigint`, name);
      }
      text = typeof value === "number" ? numberText(value) : String(value);
    } else {
      if (typeof value === "string") {
        text = value; // already JSON: checked as it is
      } else {
        try {
          text = JSON.stringify(value) ?? String(value);
        } catch (error) {
          return refuse(`${name} cannot be written as JSON (${(error as Error).message})`, name);
        }
      }
    }
    fields.push(name, text);
  }
  const extra = record.extra;
  if (extra !== undefined) {
    if (extra === null || typeof extra !== "object") {
      refuse("extra must be an object of string fields", "extra");
    }
    for (const [name, value] of Object.entries(extra)) {
      if (name === "id" || name === "updatedAt" || Object.prototype.hasOwnProperty.call(rules.kinds, name)) {
        refuse(`extra field ${show(name)} is a field the archive maps; set it on the record itself`, name);
      }
      if (typeof value !== "string") {
        refuse(`extra field ${show(name)} must be a string, not ${typeof value}`, name);
      }
      fields.push(name, value);
    }
  }
  return fields;
}
