// One SQS queue and dead-letter queue per zone, named by the adapter's own function (infra/plan/zones.ts) with the
// adapter's retention and redrive, so the relay finds them ready instead of creating them.
import type { StackPlan } from "./plan/index.ts";
import { MAX_RECEIVE_COUNT, QUEUE_RETENTION_S } from "./plan/zones.ts";

export function zoneQueues(plan: StackPlan) {
  return plan.zones.map((zone) => {
    const dlq = new aws.sqs.Queue(`ZoneDlq-${zone.queueName}`, {
      name: zone.dlqName,
      messageRetentionSeconds: QUEUE_RETENTION_S,
      sqsManagedSseEnabled: true,
    });
    const queue = new aws.sqs.Queue(`ZoneQueue-${zone.queueName}`, {
      name: zone.queueName,
      messageRetentionSeconds: QUEUE_RETENTION_S,
      sqsManagedSseEnabled: true,
      redrivePolicy: $jsonStringify({ deadLetterTargetArn: dlq.arn, maxReceiveCount: MAX_RECEIVE_COUNT }),
    });
    return { zone, queue, dlq };
  });
}

export type ZoneQueues = ReturnType<typeof zoneQueues>;
