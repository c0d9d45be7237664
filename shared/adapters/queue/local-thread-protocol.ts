// Messages between the threaded local queue (local-thread.ts) and its worker thread (local-thread-worker.ts).

/** A queue method ("enqueue", "ops.list", …) with its arguments; `handOff` and `withdraw` have no reply. */
export type Call = [id: number, method: string, args: unknown[]];
export interface CallBatch {
  calls: Call[];
}

/** Errors cross as plain data: a structured clone would drop `code` (SQLITE_FULL, ENOSPC), which intake classifies. */
export interface WireError {
  name: string;
  message: string;
  code?: string;
}
export type Reply = [id: number, ok: boolean, value: unknown];

/** From the worker: that it opened the queue (or why it could not), replies of one turn, its health when it changed. */
export interface ReplyBatch {
  ready?: true;
  replies?: Reply[];
  health?: string | null;
  fatal?: WireError;
}

export function fromWire(wire: WireError): Error {
  return Object.assign(new Error(wire.message), { name: wire.name, ...(wire.code ? { code: wire.code } : {}) });
}
