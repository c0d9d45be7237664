// Port: where message bodies live between intake and the last delivery.
import type { Readable } from "node:stream";

/**
 * A store of message bodies.
 * - `put` consumes the stream and resolves only once the body is durable (survives a crash or power loss);
 *   if the stream errors the partial body is removed and the promise rejects with that error.
 * - `get` streams a stored body; a missing id rejects with code "ENOENT".
 * - `delete` is idempotent (deleting a missing body is not an error).
 */
export interface BodyStore {
  put(id: string, body: Readable): Promise<{ size: number }>;
  get(id: string): Promise<Readable>;
  delete(id: string): Promise<void>;
  /** Every stored id, for garbage collection of bodies no message refers to. */
  list(): AsyncIterable<string>;
  /** Cheap, synchronous health: a reason when the store cannot take writes right now. */
  unhealthyReason(): string | undefined;
  close(): Promise<void>;
}
