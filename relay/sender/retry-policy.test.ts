import { describe, expect, it } from "vitest";
import { nextRetry } from "./retry-policy.ts";

const minutes = (n: number) => n * 60_000;
const schedule = [5, 7, 8, 25, 75, 120, 240].map(minutes);

describe("retry policy", () => {
  it("follows the schedule and repeats its last step", () => {
    const at = (attempts: number) =>
      nextRetry({ attempts, now: 0, receivedAt: 0, schedule, maxQueueTime: minutes(100_000) }).at;
    expect([1, 2, 3, 4, 5, 6, 7, 8, 20].map(at)).toEqual([5, 7, 8, 25, 75, 120, 240, 240, 240].map(minutes));
  });
  it("gives up once the next attempt would pass maxQueueTime", () => {
    const decision = nextRetry({
      attempts: 9,
      now: minutes(2800),
      receivedAt: 0,
      schedule,
      maxQueueTime: minutes(2880),
    });
    expect(decision.retry).toBe(false);
  });
});
