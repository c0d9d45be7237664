// Prometheus: every relay host serves /metrics inside the VPC; a scraper finds them by tag (EC2 service discovery)
// and, with managedPrometheus, writes to an Amazon Managed Prometheus workspace.

import { RELAY_API_PORT } from "./plan/host-config.ts";
import type { StackPlan } from "./plan/index.ts";
import type { RelayHosts } from "./relay.ts";

export function monitoring(plan: StackPlan, deps: { relay: RelayHosts }) {
  const workspace = plan.stack.managedPrometheus
    ? new aws.amp.Workspace("Metrics", { alias: `zonerelay-${plan.stage}` })
    : undefined;
  if (workspace) {
    // Hosts may remote-write (a collector on the host, e.g. the ADOT or Prometheus agent, does the scraping).
    new aws.iam.RolePolicyAttachment("RelayRemoteWrite", {
      role: deps.relay.role.name,
      policyArn: "arn:aws:iam::aws:policy/AmazonPrometheusRemoteWriteAccess",
    });
  }
  const scrapeConfig = $resolve([aws.getRegionOutput().region]).apply(([region]) =>
    [
      "scrape_configs:",
      "  - job_name: zonerelay",
      "    metrics_path: /metrics",
      "    ec2_sd_configs:",
      `      - region: ${region}`,
      `        port: ${RELAY_API_PORT}`,
      "        filters:",
      "          - { name: tag:zonerelay:role, values: [relay] }",
      `          - { name: tag:zonerelay:stage, values: [${plan.stage}] }`,
      "    relabel_configs:",
      "      - { source_labels: [__meta_ec2_private_ip], target_label: __address__, replacement: '$1:" +
        `${RELAY_API_PORT}' }`,
      "      - { source_labels: [__meta_ec2_instance_id], target_label: instance }",
    ].join("\n"),
  );
  return {
    workspace,
    scrapeConfig,
    remoteWriteUrl: workspace ? $interpolate`${workspace.prometheusEndpoint}api/v1/remote_write` : undefined,
  };
}
