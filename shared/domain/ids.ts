// Identifiers: time-ordered (so ids sort by arrival) and random enough to never collide across hosts.
import { randomBytes } from "node:crypto";

/** 9 base36 chars of milliseconds + 16 hex chars of randomness, e.g. "mi3k2x0a14f2c9d0e8b7a6c5". */
export function newId(now = Date.now()): string {
  return now.toString(36).padStart(9, "0") + randomBytes(8).toString("hex");
}
