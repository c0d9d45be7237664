import Database from "better-sqlite3";
import { describe, expect, it } from "vitest";
import { eachInSavepoint, perTurn } from "./sqlite-per-turn.ts";

describe("perTurn + eachInSavepoint", () => {
  it("commits the calls of one turn in one transaction, and a failing call fails alone", async () => {
    const db = new Database(":memory:");
    db.exec("CREATE TABLE t (v INTEGER NOT NULL CHECK (v > 0))");
    const insert = db.prepare("INSERT INTO t (v) VALUES (?)");
    const groups: number[] = [];
    const each = eachInSavepoint(db, (v: number) => insert.run(v).changes);
    const add = perTurn((vs: number[]) => {
      groups.push(vs.length);
      return each(vs);
    });
    const results = await Promise.allSettled([add(1), add(-1), add(3)]);
    expect(results.map((r) => r.status)).toEqual(["fulfilled", "rejected", "fulfilled"]);
    expect(groups).toEqual([3]);
    expect(db.prepare("SELECT v FROM t ORDER BY v").pluck().all()).toEqual([1, 3]);
    await add(4); // the next turn: a group of its own
    expect(groups).toEqual([3, 1]);
    db.close();
  });

  it("rejects every call of the group when the commit itself fails", async () => {
    const fail = perTurn((_: number[]): { ok: number }[] => {
      throw new Error("disk I/O error");
    });
    const results = await Promise.allSettled([fail(1), fail(2)]);
    expect(results.every((r) => r.status === "rejected")).toBe(true);
  });
});
