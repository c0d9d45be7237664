// Calls that arrive in the same turn of the event loop, committed together: one SQLite transaction (one set of WAL
// writes) for the group instead of one per call. Used by the local queue and a legacy spool's bodies.sqlite.
import type Database from "better-sqlite3";

export type Outcome<R> = { ok: R } | { err: unknown };

/** Collects calls until the turn ends, then `commit`s them at once; each caller gets its own outcome. */
export function perTurn<A, R>(commit: (args: A[]) => Outcome<R>[]): (arg: A) => Promise<R> {
  let pending: { arg: A; resolve: (r: R) => void; reject: (err: unknown) => void }[] = [];
  const flush = () => {
    const group = pending;
    pending = [];
    let outcomes: Outcome<R>[];
    try {
      outcomes = commit(group.map((p) => p.arg));
    } catch (err) {
      for (const p of group) p.reject(err);
      return;
    }
    for (const [i, o] of outcomes.entries()) {
      if ("ok" in o) group[i]!.resolve(o.ok);
      else group[i]!.reject(o.err);
    }
  };
  return (arg) =>
    new Promise((resolve, reject) => {
      pending.push({ arg, resolve, reject });
      if (pending.length === 1) setImmediate(flush);
    });
}

/** One transaction running `work` for every item, each in its own savepoint: a failing item fails alone. */
export function eachInSavepoint<A, R>(db: Database.Database, work: (arg: A) => R): (args: A[]) => Outcome<R>[] {
  const each = db.transaction((arg: A) => work(arg));
  return db.transaction((args: A[]) =>
    args.map((arg): Outcome<R> => {
      try {
        return { ok: each(arg) };
      } catch (err) {
        return { err };
      }
    }),
  );
}
