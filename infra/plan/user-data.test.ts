import { execFileSync } from "node:child_process";
import { describe, expect, it } from "vitest";
import { relayUserData } from "./user-data.ts";

describe("a relay host's boot script", () => {
  const script = relayUserData({
    stage: "prod",
    region: "eu-west-1",
    releaseBucket: "zonerelay-prod-releases",
    releaseKey: "zonerelay.zip",
    parameterPrefix: "/zonerelay/prod",
  });

  it("is valid bash", () => {
    execFileSync("bash", ["-n"], { input: script });
  });

  it("claims a slot of its own stage, then reads that slot's config and runs the relay under systemd", () => {
    expect(script).toContain("Name=tag:zonerelay:slot-of,Values='prod'");
    expect(script).toContain("--device-index 1");
    expect(script).toContain(`--name '/zonerelay/prod/relay/slot-'"$SLOT"`);
    expect(script).toContain("aws s3 cp 's3://zonerelay-prod-releases/zonerelay.zip'");
    expect(script).toMatch(/ExecStart=.*zonerelay\.mjs start --config \/etc\/zonerelay\/config\.json/);
    expect(script).toContain("Restart=always");
  });
});
