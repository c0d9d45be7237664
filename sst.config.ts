/// <reference path="./.sst/platform/config.d.ts" />
// The AWS stack: composes infra/ (one file per concern). Everything per zone and per address is derived from the
// relay config itself (deploy/zonerelay.yaml, infra/plan/), so the stack and the relay can never disagree.
// Region: AWS_REGION (default us-east-1). Settings: deploy/stack.yaml. Secrets: `sst secret set` (docs/deploy-aws.md).
export default $config({
  app(input) {
    return {
      name: "zonerelay",
      home: "aws",
      removal: input?.stage === "production" ? "retain" : "remove",
      protect: input?.stage === "production",
      providers: { aws: { version: "7.20.0", region: (process.env.AWS_REGION ?? "us-east-1") as "us-east-1" } },
    };
  },
  async run() {
    const { planStack } = await import("./infra/plan/index.ts");
    const plan = planStack($app.stage);
    const { network } = await import("./infra/network.ts");
    const { storage } = await import("./infra/storage.ts");
    const { zoneQueues } = await import("./infra/queues.ts");
    const { secrets } = await import("./infra/secrets.ts");
    const { redis } = await import("./infra/redis.ts");
    const { configs } = await import("./infra/configs.ts");
    const { intake } = await import("./infra/intake.ts");
    const { relayHosts } = await import("./infra/relay.ts");
    const { scaling } = await import("./infra/scaling.ts");
    const { monitoring } = await import("./infra/monitoring.ts");

    const net = network(plan);
    const store = storage(plan);
    const queues = zoneQueues(plan);
    const cache = redis(plan, net);
    const rendered = configs(plan, { net, storage: store, redis: cache, secrets: secrets() });
    const api = intake(plan, { net, storage: store, queues, configs: rendered });
    const relay = relayHosts(plan, { net, storage: store, queues, configs: rendered });
    scaling(plan, { queues, relay });
    const metrics = monitoring(plan, { relay });

    return {
      intakeUrl: api.url,
      bucket: store.bodies.name,
      queues: Object.fromEntries(queues.map((q) => [q.zone.zone, q.queue.url])),
      // Publish an A record for each name → its Elastic IP, then set reverseDns: true (docs/deploy-aws.md).
      addresses: Object.fromEntries(relay.slots.flatMap((s) => s.eips.map((e) => [e.name, e.eip.publicIp]))),
      prometheusScrapeConfig: metrics.scrapeConfig,
      ...(metrics.remoteWriteUrl ? { prometheusRemoteWrite: metrics.remoteWriteUrl } : {}),
    };
  },
});
