// The rendered configs (infra/plan/host-config.ts) as SSM SecureString parameters: one for the intake function,
// one per relay slot. Secrets are resolved here, at deploy time, and validated by the relay's own parser.

import type { Network } from "./network.ts";
import type { Deployment } from "./plan/host-config.ts";
import { intakeConfig, relayConfig } from "./plan/host-config.ts";
import type { StackPlan } from "./plan/index.ts";
import type { RedisCluster } from "./redis.ts";
import type { Secrets } from "./secrets.ts";
import type { Storage } from "./storage.ts";

export function configs(
  plan: StackPlan,
  deps: { net: Network; storage: Storage; redis: RedisCluster; secrets: Secrets },
) {
  const { secrets } = deps;
  const deployment = $resolve([
    deps.net.region,
    deps.storage.bodies.name,
    deps.redis?.url ?? "",
    secrets.apiKeys.value,
    secrets.dkimKeys.value,
    secrets.adminUsers.value,
    secrets.adminSessionSecret.value,
  ]).apply(([region, bucket, redisUrl, apiKeys, dkimKeys, adminUsers, sessionSecret]): Deployment => {
    const users = parseSecret<Record<string, { password: string }>>("AdminUsers", adminUsers);
    return {
      region,
      bucket,
      queuePrefix: plan.queuePrefix,
      ...(redisUrl ? { redisUrl } : {}),
      apiKeys: parseSecret("ApiKeys", apiKeys),
      dkimKeys: parseSecret("DkimKeys", dkimKeys),
      ...(Object.keys(users).length ? { admin: { users, sessionSecret } } : {}),
    };
  });
  const parameter = (name: string, path: string, value: $util.Output<string>) =>
    new aws.ssm.Parameter(name, {
      name: `/zonerelay/${plan.stage}/${path}`,
      type: "SecureString",
      // DKIM keys make a config larger than the standard tier's 4 KB.
      tier: "Intelligent-Tiering",
      value,
    });

  const intake = parameter(
    "IntakeConfig",
    "intake",
    // Without the VPC the function cannot reach Redis: its failed-login counts stay per instance.
    deployment.apply((d) => {
      const { redisUrl: _unreachable, ...rest } = d;
      return JSON.stringify(intakeConfig(plan.raw, plan.stack.intakeInVpc ? d : rest));
    }),
  );
  const relays = plan.slots.map((slot) =>
    parameter(
      `RelayConfig${slot.index}`,
      `relay/slot-${slot.index}`,
      deployment.apply((d) => JSON.stringify(relayConfig(plan.raw, d, slot))),
    ),
  );
  return { intake, relays, prefix: `/zonerelay/${plan.stage}` };
}

export type Configs = ReturnType<typeof configs>;

function parseSecret<T = unknown[]>(name: string, value: string): T {
  try {
    return JSON.parse(value) as T;
  } catch {
    throw new Error(`the SST secret ${name} must be JSON (see docs/deploy-aws.md)`);
  }
}
