// Per-zone SQS resources, named exactly as the sqs queue adapter names them (the same function), so the queues
// infra creates are the ones the intake writes to and the relay hosts drain.

import { queueNameFor } from "../../shared/adapters/queue/sqs-zone-queues.ts";
import type { Config } from "../../shared/config/schema.ts";
import type { StackSettings } from "./settings.ts";

export interface ZoneQueuePlan {
  zone: string;
  /** `<queuePrefix>-<zone>`, shortened and hashed like the adapter does for unusual names. */
  queueName: string;
  dlqName: string;
  /** Visible messages above which this zone's backlog adds a relay host. */
  scaleOutAt: number;
}

/** The adapter's own settings (sqs-zone-queues.ts): 14 days retention, redrive after 1000 receives. */
export const QUEUE_RETENTION_S = 1_209_600;
export const MAX_RECEIVE_COUNT = 1000;

/** `queuePrefix`: the deployment's (the stack adds its stage, so two stages in one account never share queues). */
export function zoneQueuePlan(
  config: Readonly<Config>,
  stack: StackSettings,
  queuePrefix = config.aws.queuePrefix,
): ZoneQueuePlan[] {
  return Object.entries(config.zones).map(([zone, settings]) => {
    const queueName = queueNameFor(queuePrefix, zone);
    return {
      zone,
      queueName,
      dlqName: `${queueName}-dlq`,
      scaleOutAt: settings.connections * stack.scaling.backlogPerConnection,
    };
  });
}
