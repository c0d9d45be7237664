// The intake: THE Hono app on Lambda (functions/lambda.ts) behind a function URL, optionally on a custom domain.
// Its config comes from the SecureString parameter infra/configs.ts renders (read on the first invocation).
import type { Configs } from "./configs.ts";
import type { Network } from "./network.ts";
import { LAMBDA_EXTERNALS } from "./plan/bundle.ts";
import type { StackPlan } from "./plan/index.ts";
import type { ZoneQueues } from "./queues.ts";
import type { Storage } from "./storage.ts";

export function intake(
  plan: StackPlan,
  deps: { net: Network; storage: Storage; queues: ZoneQueues; configs: Configs },
) {
  const { bodies } = deps.storage;
  const fn = new sst.aws.Function("Intake", {
    handler: "functions/lambda.handler",
    runtime: "nodejs20.x",
    architecture: "arm64",
    // Memory buys CPU: 1 GB streams a 25 MB upload through header parsing and the DKIM hash in a few seconds.
    memory: "1024 MB",
    timeout: "2 minutes",
    url: true,
    environment: { ZONERELAY_CONFIG_PARAMETER: deps.configs.intake.name, LOG_LEVEL: "info" },
    // The web admin reads its page assets beside the module that holds it (the handler or a chunk next to it).
    copyFiles: [
      { from: "functions/admin/assets", to: "functions/assets" },
      { from: "functions/admin/assets", to: "assets" },
    ],
    nodejs: {
      // Lazy imports stay lazy only as chunks: without splitting, esbuild would hoist the imports of the
      // external modules below to the top of one file and every cold start would load (and miss) them.
      splitting: true,
      esbuild: { external: LAMBDA_EXTERNALS },
    },
    permissions: [
      {
        actions: ["s3:GetObject", "s3:PutObject", "s3:DeleteObject"],
        resources: [$interpolate`${bodies.arn}/*`],
      },
      { actions: ["s3:ListBucket"], resources: [bodies.arn] },
      {
        actions: [
          "sqs:SendMessage",
          "sqs:SendMessageBatch",
          "sqs:GetQueueUrl",
          "sqs:GetQueueAttributes",
          "sqs:CreateQueue",
          "sqs:SetQueueAttributes",
        ],
        resources: deps.queues.flatMap((q) => [q.queue.arn, q.dlq.arn]),
      },
      { actions: ["ssm:GetParameter"], resources: [deps.configs.intake.arn] },
    ],
    ...(plan.stack.intakeInVpc
      ? {
          vpc: {
            privateSubnets: deps.net.privateSubnets.map((s) => s.id),
            securityGroups: [deps.net.intakeSecurityGroup.id],
          },
        }
      : {}),
  });
  // A function URL has no custom domain of its own: CloudFront in front when one is wanted.
  const router = plan.stack.domain
    ? new sst.aws.Router("IntakeRouter", { domain: plan.stack.domain, routes: { "/*": fn.url } })
    : undefined;
  return { fn, url: router ? router.url : fn.url };
}
