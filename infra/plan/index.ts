// Everything the stack derives from the relay config and the stack settings, computed once, without AWS.
import { parseConfig, readConfigFile } from "../../shared/config/load.ts";
import { hostSlots } from "./addresses.ts";
import { bucketLifecycle } from "./lifecycle.ts";
import { readStackSettings } from "./settings.ts";
import { zoneQueuePlan } from "./zones.ts";

export function planStack(stage: string, env: NodeJS.ProcessEnv = process.env) {
  const stack = readStackSettings(env);
  const raw = readConfigFile(stack.config);
  const config = parseConfig(raw);
  const queuePrefix = `${config.aws.queuePrefix}-${stage}`;
  return {
    stage,
    stack,
    /** The operator's relay config as written (the hosts' configs are rendered from it, see host-config.ts). */
    raw,
    config,
    queuePrefix,
    zones: zoneQueuePlan(config, stack, queuePrefix),
    slots: hostSlots(config, stack),
    lifecycle: bucketLifecycle(config, stack),
  };
}

export type StackPlan = ReturnType<typeof planStack>;
