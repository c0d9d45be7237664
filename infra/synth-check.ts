// Runs sst.config.ts's program once against Pulumi's mocks: no AWS, no state. What tsc cannot see — an apply that
// throws (a rendered config the relay's parser refuses), a duplicate resource name, a plan that does not fit — fails
// here. SST's own components (Bucket, Function, Redis, Router, Secret) are stood in for by stubs with their outputs;
// the raw AWS resources are the real Pulumi classes. Prints one line. Run by scripts/check-infra.sh.
import { createRequire } from "node:module";
import { join } from "node:path";

const platform = join(process.cwd(), ".sst/platform/node_modules");
const require = createRequire(join(platform, "noop.js"));
const pulumi = require("@pulumi/pulumi") as typeof $util;

const created: { type: string; name: string; inputs: Record<string, unknown> }[] = [];
await pulumi.runtime.setMocks(
  {
    newResource(args) {
      created.push({ type: args.type, name: args.name, inputs: args.inputs });
      const id = `${args.name}-id`;
      return {
        id,
        state: {
          ...args.inputs,
          arn: `arn:aws:mock:us-east-1:123456789012:${args.name}`,
          name: args.inputs.name ?? args.name,
          url: `https://sqs.us-east-1.amazonaws.com/123456789012/${args.inputs.name ?? args.name}`,
          publicIp: "203.0.113.10",
          allocationId: `eipalloc-${args.name}`,
          latestVersion: 1,
          version: 1,
          etag: "etag",
          prometheusEndpoint: "https://aps-workspaces.us-east-1.amazonaws.com/workspaces/ws-1/",
        },
      };
    },
    call(args) {
      if (args.token === "aws:index/getRegion:getRegion") return { region: "us-east-1", name: "us-east-1" };
      if (args.token === "aws:index/getAvailabilityZones:getAvailabilityZones") {
        return { names: ["us-east-1a", "us-east-1b", "us-east-1c"] };
      }
      if (args.token === "aws:ssm/getParameter:getParameter") return { value: "ami-0123456789abcdef0" };
      return args.inputs;
    },
  },
  "zonerelay",
  "ci",
  false,
);

/** An SST component's outputs, enough for the program to wire them. */
class Stub {
  readonly name: $util.Output<string>;
  readonly arn: $util.Output<string>;
  readonly url: $util.Output<string>;
  constructor(
    readonly logical: string,
    readonly args: unknown = {},
  ) {
    const slug = logical.toLowerCase();
    this.name = pulumi.output(`zonerelay-ci-${slug}`);
    this.arn = pulumi.output(`arn:aws:s3:::zonerelay-ci-${slug}`);
    this.url = pulumi.output(`https://${slug}.lambda-url.us-east-1.on.aws/`);
    created.push({ type: `sst:${this.constructor.name}`, name: logical, inputs: args as Record<string, unknown> });
  }
}
/** The values an operator sets with `sst secret set` (valid shapes, so the rendered configs must validate). */
const SECRETS: Record<string, string> = {
  ApiKeys: JSON.stringify([{ id: "app", hash: `sha256:${"a".repeat(64)}` }]),
  DkimKeys: "[]",
  AdminUsers: JSON.stringify({ alice: { password: "scrypt$16384$8$1$c2FsdA$aGFzaA" } }),
  AdminSessionSecret: "s".repeat(64),
};
class Secret extends Stub {
  readonly value = pulumi.secret(SECRETS[this.logical] ?? "");
}
class Redis extends Stub {
  readonly username = pulumi.output("default");
  readonly password = pulumi.output("token");
  readonly host = pulumi.output("redis.internal");
  readonly port = pulumi.output(6379);
}
const g = globalThis as Record<string, unknown>;
g.aws = require("@pulumi/aws");
g.$util = pulumi;
g.$interpolate = pulumi.interpolate;
g.$resolve = pulumi.all;
g.$jsonStringify = pulumi.jsonStringify;
g.$app = { name: "zonerelay", stage: "ci" };
g.sst = { Secret, aws: { Bucket: Stub, Function: Stub, Redis, Router: Stub } };
g.$config = (config: unknown) => config;

const { default: app } = (await import("../sst.config.ts")) as unknown as {
  default: { run(): Promise<Record<string, unknown>> };
};
const outputs = await app.run();
// Resolving the outputs runs every apply (rendered configs, boot scripts, policies); a failure rejects here.
const resolved = await new Promise<Record<string, unknown>>((resolve, reject) => {
  pulumi.all(outputs as Record<string, $util.Input<unknown>>).apply((v) => resolve(v as never));
  setTimeout(() => reject(new Error("outputs did not resolve within 30 s")), 30_000).unref();
});
// Every registration (the ones no output depends on too, such as alarms) has run once the RPCs are drained.
await pulumi.runtime.disconnect();
if (process.env.SYNTH_LIST) for (const r of created) console.log(r.type, r.name);
const count = (type: string) => created.filter((r) => r.type === type).length;
const missing = ["intakeUrl", "bucket", "queues", "addresses", "prometheusScrapeConfig"].filter(
  (k) => !(k in resolved),
);
if (missing.length) throw new Error(`outputs missing: ${missing.join(", ")}`);
console.log(
  `synth: ${created.length} resources — ${count("aws:sqs/queue:Queue")} queues, ${count("aws:ec2/eip:Eip")} Elastic IPs, ` +
    `${count("aws:ec2/networkInterface:NetworkInterface")} address slots, ${count("aws:ssm/parameter:Parameter")} configs, ` +
    `${count("aws:cloudwatch/metricAlarm:MetricAlarm")} alarms; outputs: ${Object.keys(resolved).join(", ")}`,
);
