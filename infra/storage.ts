// The body bucket: message bodies, staged uploads and the sqs queue's status records, encrypted, with lifecycle
// expiry as the last line of garbage collection (infra/plan/lifecycle.ts); and a bucket for relay releases.
import type { StackPlan } from "./plan/index.ts";

export function storage(plan: StackPlan) {
  const bodies = new sst.aws.Bucket("Bodies");
  new aws.s3.BucketServerSideEncryptionConfiguration("BodiesEncryption", {
    bucket: bodies.name,
    // SSE-KMS with the account's aws/s3 key; the bucket key keeps KMS requests (and their cost) per object low.
    rules: [{ applyServerSideEncryptionByDefault: { sseAlgorithm: "aws:kms" }, bucketKeyEnabled: true }],
  });
  new aws.s3.BucketLifecycleConfiguration("BodiesLifecycle", {
    bucket: bodies.name,
    rules: plan.lifecycle.map((rule) => ({
      id: rule.id,
      status: "Enabled",
      filter: { prefix: rule.prefix },
      ...(rule.expireDays === undefined ? {} : { expiration: { days: rule.expireDays } }),
      ...(rule.abortIncompleteUploadsDays === undefined
        ? {}
        : { abortIncompleteMultipartUpload: { daysAfterInitiation: rule.abortIncompleteUploadsDays } }),
    })),
  });
  const releases = new sst.aws.Bucket("Releases");
  return { bodies, releases };
}

export type Storage = ReturnType<typeof storage>;
