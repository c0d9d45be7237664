// Settings of the AWS stack that are not the relay's own config: sizes, network ranges, options. Read from
// `deploy/stack.yaml` (or $ZR_STACK); validated like the relay config (strict, described, defaults here).
import { existsSync, readFileSync } from "node:fs";
import { parse as parseYaml } from "yaml";
import { z } from "zod";
import { formatIssues } from "../../shared/config/load.ts";

export const stackSchema = z
  .object({
    config: z
      .string()
      .default("deploy/zonerelay.yaml")
      .describe("The relay config (zones, pools, routing) the stack is derived from; $ZONERELAY_CONFIG overrides."),
    vpcCidr: z.string().default("10.64.0.0/16").describe("Address range of the VPC."),
    relaySubnetCidr: z
      .string()
      .default("10.64.10.0/24")
      .describe("Public subnet of the relay hosts; every pool address of the config must lie in it."),
    privateSubnetCidrs: z
      .array(z.string())
      .min(2)
      .default(["10.64.20.0/24", "10.64.21.0/24"])
      .describe("Private subnets (two zones) for Redis and, with intakeInVpc, the intake function."),
    relayHosts: z
      .object({
        min: z.number().int().min(1).default(1).describe("Relay hosts always running."),
        max: z
          .number()
          .int()
          .min(1)
          .default(2)
          .describe("Most relay hosts: one address slot each, so every pool needs at least this many addresses."),
      })
      .strict()
      .prefault({})
      .refine((h) => h.min <= h.max, { message: "relayHosts.min must not exceed relayHosts.max" })
      .describe("How many relay hosts autoscaling may run."),
    instanceType: z.string().default("c7i.large").describe("EC2 instance type of a relay host."),
    scaling: z
      .object({
        backlogPerConnection: z
          .number()
          .int()
          .positive()
          .default(200)
          .describe(
            "Visible messages per zone connection that add a relay host (zone threshold = connections × this).",
          ),
        idleBelow: z
          .number()
          .int()
          .nonnegative()
          .default(10)
          .describe("A host is removed when every zone queue has fewer visible messages than this for 15 minutes."),
      })
      .strict()
      .prefault({})
      .describe("Autoscaling on the zone queues' visible-message counts."),
    redis: z.boolean().default(true).describe("ElastiCache Redis for throttles shared by every relay host."),
    intakeInVpc: z
      .boolean()
      .default(false)
      .describe("Run the intake function in the VPC so it uses Redis too (adds S3 and SQS VPC endpoints)."),
    domain: z
      .string()
      .optional()
      .describe("Custom domain of the intake (CloudFront router); unset = the function URL."),
    reverseDns: z
      .boolean()
      .default(false)
      .describe(
        "Set each Elastic IP's PTR to its EHLO name. AWS checks that the name's A record points at the address " +
          "first: deploy once, publish the A records, then turn this on.",
      ),
    statusRetentionDays: z
      .number()
      .int()
      .positive()
      .default(60)
      .describe("Status records (messages, deliveries, idempotency) expire after this; longer than the queue time."),
    managedPrometheus: z
      .boolean()
      .default(false)
      .describe("Create an Amazon Managed Prometheus workspace the hosts' scraper writes to."),
  })
  .strict();

export type StackSettings = z.infer<typeof stackSchema>;

export function parseStackSettings(raw: unknown): StackSettings {
  const result = stackSchema.safeParse(raw ?? {});
  if (!result.success)
    throw new Error(`invalid stack settings:\n  - ${formatIssues(result.error.issues).join("\n  - ")}`);
  return result.data;
}

/** deploy/stack.yaml (or $ZR_STACK) when it exists, else the defaults. */
export function readStackSettings(env: NodeJS.ProcessEnv = process.env): StackSettings {
  const file = env.ZR_STACK ?? "deploy/stack.yaml";
  const raw = existsSync(file) ? parseYaml(readFileSync(file, "utf8")) : {};
  const settings = parseStackSettings(raw);
  return env.ZONERELAY_CONFIG ? { ...settings, config: env.ZONERELAY_CONFIG } : settings;
}
