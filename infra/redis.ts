// ElastiCache Redis for the coordinator: connection slots, rate buckets, suspensions and warm-up counters shared
// by every relay host (and the intake's failed-login counts when it runs in the VPC).
import type { Network } from "./network.ts";
import type { StackPlan } from "./plan/index.ts";

export function redis(plan: StackPlan, net: Network) {
  if (!plan.stack.redis) return undefined;
  const cluster = new sst.aws.Redis("Redis", {
    engine: "redis",
    // One shard: the coordinator's Lua scripts touch several keys at once, which cluster mode would split.
    cluster: false,
    vpc: { subnets: net.privateSubnets.map((s) => s.id), securityGroups: [net.redisSecurityGroup.id] },
  });
  // In-transit encryption and an auth token are on (SST's defaults): rediss:// with the token as password.
  const url = $resolve([cluster.username, cluster.password, cluster.host, cluster.port]).apply(
    ([user, password, host, port]) => `rediss://${user}:${encodeURIComponent(password ?? "")}@${host}:${port}`,
  );
  return { cluster, url };
}

export type RedisCluster = ReturnType<typeof redis>;
