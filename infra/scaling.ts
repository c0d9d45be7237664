// Autoscaling of the relay hosts on each zone queue's visible messages: any zone whose backlog passes its
// threshold (connections × backlogPerConnection, infra/plan/zones.ts) adds a host; when every zone is nearly
// empty for 15 minutes, one goes. Never beyond the address slots (relayHosts.max).
import type { StackPlan } from "./plan/index.ts";
import type { ZoneQueues } from "./queues.ts";
import type { RelayHosts } from "./relay.ts";

export function scaling(plan: StackPlan, deps: { queues: ZoneQueues; relay: RelayHosts }) {
  const group = deps.relay.group.name;
  const scaleOut = new aws.autoscaling.Policy("RelayScaleOut", {
    autoscalingGroupName: group,
    policyType: "StepScaling",
    adjustmentType: "ChangeInCapacity",
    stepAdjustments: [{ metricIntervalLowerBound: "0", scalingAdjustment: 1 }],
    estimatedInstanceWarmup: 300,
  });
  const scaleIn = new aws.autoscaling.Policy("RelayScaleIn", {
    autoscalingGroupName: group,
    policyType: "StepScaling",
    adjustmentType: "ChangeInCapacity",
    stepAdjustments: [{ metricIntervalUpperBound: "0", scalingAdjustment: -1 }],
  });
  const visible = (queueName: $util.Input<string>) => ({
    namespace: "AWS/SQS",
    metricName: "ApproximateNumberOfMessagesVisible",
    dimensions: { QueueName: queueName },
    period: 60,
    stat: "Maximum",
  });
  for (const { zone, queue } of deps.queues) {
    new aws.cloudwatch.MetricAlarm(`Backlog-${zone.queueName}`, {
      alarmDescription: `zone ${zone.zone}: more than ${zone.scaleOutAt} messages waiting`,
      comparisonOperator: "GreaterThanThreshold",
      threshold: zone.scaleOutAt,
      evaluationPeriods: 2,
      ...visible(queue.name),
      alarmActions: [scaleOut.arn],
    });
  }
  new aws.cloudwatch.MetricAlarm("AllZonesIdle", {
    alarmDescription: `every zone queue below ${plan.stack.scaling.idleBelow} waiting messages`,
    comparisonOperator: "LessThanThreshold",
    threshold: plan.stack.scaling.idleBelow,
    evaluationPeriods: 15,
    metricQueries: [
      ...deps.queues.map(({ queue }, i) => ({
        id: `q${i}`,
        returnData: false,
        metric: { ...visible(queue.name) },
      })),
      { id: "busiest", expression: `MAX([${deps.queues.map((_, i) => `q${i}`).join(",")}])`, returnData: true },
    ],
    alarmActions: [scaleIn.arn],
  });
  return { scaleOut, scaleIn };
}
