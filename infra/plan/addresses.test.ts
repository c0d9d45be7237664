import { describe, expect, it } from "vitest";
import { parseConfig } from "../../shared/config/load.ts";
import type { ConfigInput } from "../../shared/config/schema.ts";
import { AddressPlanError, hostSlots } from "./addresses.ts";
import { parseStackSettings } from "./settings.ts";

const stack = (max: number) => parseStackSettings({ relayHosts: { min: 1, max }, relaySubnetCidr: "10.64.10.0/24" });
const config = (over: ConfigInput) => parseConfig(over);

describe("relay host slots from the pools", () => {
  const pools = {
    default: [
      { address: "10.64.10.10", name: "mta1.example.com" },
      { address: "10.64.10.11", name: "mta2.example.com", weight: 2 },
    ],
    bulk: [
      { address: "10.64.10.20", name: "bulk1.example.com" },
      { address: "10.64.10.21", name: "bulk2.example.com", warmup: { since: "2026-12-01" } },
      { address: "10.64.10.22", name: "bulk3.example.com" },
    ],
  };

  it("spreads each pool over the slots, so every host can send every zone", () => {
    const slots = hostSlots(config({ pools, zones: { default: {}, bulk: { pool: "bulk" } } }), stack(2));
    expect(slots.map((s) => s.addresses.map((a) => a.address))).toEqual([
      ["10.64.10.10", "10.64.10.20", "10.64.10.22"],
      ["10.64.10.11", "10.64.10.21"],
    ]);
    expect(slots[1]!.pools).toEqual({
      default: [{ address: "10.64.10.11", name: "mta2.example.com", weight: 2 }],
      bulk: [
        {
          address: "10.64.10.21",
          name: "bulk2.example.com",
          weight: 1,
          warmup: { since: "2026-12-01", schedule: "default" },
        },
      ],
    });
    expect(slots[0]!.addresses[0]).toEqual({ address: "10.64.10.10", name: "mta1.example.com", pools: ["default"] });
  });

  it("keeps an address listed in two pools on one slot, with one Elastic IP", () => {
    const shared = {
      default: [{ address: "10.64.10.10", name: "mta1.example.com" }],
      transactional: [{ address: "10.64.10.10", name: "mta1.example.com" }],
    };
    const slots = hostSlots(config({ pools: shared, zones: { default: {}, tx: { pool: "transactional" } } }), stack(1));
    expect(slots[0]!.addresses).toEqual([
      { address: "10.64.10.10", name: "mta1.example.com", pools: ["default", "transactional"] },
    ]);
  });

  it("refuses what AWS cannot carry: no name, outside the subnet, reserved, IPv6, a pool short of hosts", () => {
    const bad = {
      default: [
        { address: "10.64.10.10" },
        { address: "10.64.11.5", name: "x.example.com" },
        { address: "10.64.10.2", name: "y.example.com" },
        { address: "2001:db8::1", name: "v6.example.com" },
      ],
      bulk: [{ address: "10.64.10.20", name: "bulk1.example.com" }],
    };
    let error: AddressPlanError | undefined;
    try {
      hostSlots(config({ pools: bad, zones: { default: {}, bulk: { pool: "bulk" } } }), stack(2));
    } catch (err) {
      error = err as AddressPlanError;
    }
    expect(error).toBeInstanceOf(AddressPlanError);
    expect(error!.problems).toEqual([
      "pools.default[0]: 10.64.10.10 needs a name (its EHLO name and the PTR of its Elastic IP)",
      "pools.default[1]: 10.64.11.5 is not a usable address of relaySubnetCidr 10.64.10.0/24 (AWS reserves the first four and the last)",
      "pools.default[2]: 10.64.10.2 is not a usable address of relaySubnetCidr 10.64.10.0/24 (AWS reserves the first four and the last)",
      "pools.default[3]: 2001:db8::1 — on AWS every pool address is a private IPv4 of the relay subnet",
      "pools.default has addresses for 0 of 2 relay hosts (relayHosts.max): every host sends every zone, so each pool needs at least one address per host",
      "pools.bulk has addresses for 1 of 2 relay hosts (relayHosts.max): every host sends every zone, so each pool needs at least one address per host",
    ]);
  });

  it("ignores pools no zone sends from", () => {
    const slots = hostSlots(
      config({ pools: { default: pools.default, spare: [{ address: "0.0.0.0" }] }, zones: { default: {} } }),
      stack(2),
    );
    expect(Object.keys(slots[0]!.pools)).toEqual(["default"]);
  });
});
