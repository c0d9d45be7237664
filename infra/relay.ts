// The relay hosts: an autoscaling group of EC2 instances, each claiming one address slot at boot — a network
// interface whose private IPs are the slot's pool addresses, each mapped 1:1 to an Elastic IP whose PTR is the
// address's EHLO name (infra/plan/addresses.ts). Hosts come and go with the queues; the public addresses stay.
import type { Configs } from "./configs.ts";
import type { Network } from "./network.ts";
import type { StackPlan } from "./plan/index.ts";
import { relayUserData, SLOT_INDEX_TAG, SLOT_TAG } from "./plan/user-data.ts";
import type { ZoneQueues } from "./queues.ts";
import type { Storage } from "./storage.ts";

/** What the relay needs of its sources at run time (no tests, docs or infra); built on the host with npm ci. */
const RELEASE_DIRS = ["functions", "relay", "shared", "scripts"];

export function relayHosts(
  plan: StackPlan,
  deps: { net: Network; storage: Storage; queues: ZoneQueues; configs: Configs },
) {
  const { net, storage } = deps;
  const tags = { "zonerelay:stage": plan.stage };

  const slots = plan.slots.map((slot) => {
    const eni = new aws.ec2.NetworkInterface(`RelaySlot${slot.index}`, {
      subnetId: net.relaySubnet.id,
      privateIpListEnabled: true,
      privateIpLists: slot.addresses.map((a) => a.address),
      securityGroups: [net.relaySecurityGroup.id],
      description: `ZoneRelay ${plan.stage} slot ${slot.index}: ${slot.addresses.map((a) => a.name).join(", ")}`,
      tags: { ...tags, [SLOT_TAG]: plan.stage, [SLOT_INDEX_TAG]: String(slot.index) },
    });
    const eips = slot.addresses.map((a) => {
      const eip = new aws.ec2.Eip(`RelayEip-${a.address}`, {
        domain: "vpc",
        networkInterface: eni.id,
        associateWithPrivateIp: a.address,
        tags: { ...tags, Name: a.name },
      });
      // AWS sets a PTR only when the name's A record already points at the address (deploy, publish, enable).
      if (plan.stack.reverseDns) {
        new aws.ec2.EipDomainName(`RelayPtr-${a.address}`, { allocationId: eip.allocationId, domainName: a.name });
      }
      return { ...a, eip };
    });
    return { slot, eni, eips };
  });

  const release = new aws.s3.BucketObjectv2("RelayRelease", {
    bucket: storage.releases.name,
    key: "zonerelay.zip",
    source: new $util.asset.AssetArchive({
      ...Object.fromEntries(RELEASE_DIRS.map((d) => [d, new $util.asset.FileArchive(d)])),
      "package.json": new $util.asset.FileAsset("package.json"),
      "package-lock.json": new $util.asset.FileAsset("package-lock.json"),
      "tsconfig.json": new $util.asset.FileAsset("tsconfig.json"),
    }),
  });

  const role = new aws.iam.Role("RelayRole", {
    assumeRolePolicy: aws.iam.assumeRolePolicyForPrincipal({ Service: "ec2.amazonaws.com" }),
    // Session Manager instead of SSH: no key pairs, no port 22.
    managedPolicyArns: ["arn:aws:iam::aws:policy/AmazonSSMManagedInstanceCore"],
    tags,
  });
  new aws.iam.RolePolicy("RelayPolicy", {
    role: role.id,
    policy: $jsonStringify({
      Version: "2012-10-17",
      Statement: [
        {
          Effect: "Allow",
          Action: ["s3:GetObject", "s3:PutObject", "s3:DeleteObject"],
          Resource: [$interpolate`${storage.bodies.arn}/*`, $interpolate`${storage.releases.arn}/*`],
        },
        { Effect: "Allow", Action: ["s3:ListBucket"], Resource: [storage.bodies.arn] },
        {
          Effect: "Allow",
          Action: [
            "sqs:ReceiveMessage",
            "sqs:DeleteMessage",
            "sqs:ChangeMessageVisibility",
            "sqs:SendMessage",
            "sqs:SendMessageBatch",
            "sqs:GetQueueUrl",
            "sqs:GetQueueAttributes",
            "sqs:CreateQueue",
            "sqs:SetQueueAttributes",
          ],
          Resource: deps.queues.flatMap((q) => [q.queue.arn, q.dlq.arn]),
        },
        {
          Effect: "Allow",
          Action: ["ssm:GetParameter"],
          Resource: deps.configs.relays.map((p) => p.arn),
        },
        { Effect: "Allow", Action: ["ec2:DescribeNetworkInterfaces"], Resource: "*" },
        {
          // Only this stage's slot interfaces can be attached.
          Effect: "Allow",
          Action: ["ec2:AttachNetworkInterface"],
          Resource: "*",
          Condition: { StringEquals: { [`ec2:ResourceTag/${SLOT_TAG}`]: plan.stage } },
        },
        {
          Effect: "Allow",
          Action: ["ec2:AttachNetworkInterface"],
          Resource: $interpolate`arn:aws:ec2:*:*:instance/*`,
        },
      ],
    }),
  });
  const profile = new aws.iam.InstanceProfile("RelayProfile", { role: role.name });

  const ami = aws.ssm.getParameterOutput({
    name: "/aws/service/ami-amazon-linux-latest/al2023-ami-kernel-default-x86_64",
  }).value;
  // The release's ETag and the configs' versions are part of the boot script, so a new release or a changed config
  // makes a new launch template version, and the instance refresh below rolls the hosts onto it.
  const versions = $resolve(deps.configs.relays.map((p) => p.version)).apply((v) => v.join(","));
  const revision = $interpolate`release ${release.etag}, configs ${versions}`;
  const userData = $resolve([net.region, storage.releases.name, release.key, revision]).apply(
    ([region, bucket, key, rev]) =>
      Buffer.from(
        relayUserData({
          stage: plan.stage,
          region,
          releaseBucket: bucket,
          releaseKey: key,
          parameterPrefix: deps.configs.prefix,
          revision: rev,
        }),
      ).toString("base64"),
  );
  const template = new aws.ec2.LaunchTemplate("RelayTemplate", {
    imageId: ami,
    instanceType: plan.stack.instanceType,
    iamInstanceProfile: { arn: profile.arn },
    vpcSecurityGroupIds: [net.relaySecurityGroup.id],
    userData,
    metadataOptions: { httpTokens: "required", httpEndpoint: "enabled" },
    tagSpecifications: [
      { resourceType: "instance", tags: { ...tags, Name: `zonerelay-${plan.stage}`, "zonerelay:role": "relay" } },
    ],
    updateDefaultVersion: true,
  });
  const group = new aws.autoscaling.Group("RelayGroup", {
    minSize: plan.stack.relayHosts.min,
    maxSize: plan.stack.relayHosts.max,
    vpcZoneIdentifiers: [net.relaySubnet.id],
    launchTemplate: { id: template.id, version: $interpolate`${template.latestVersion}` },
    healthCheckType: "EC2",
    // Scale-in sends SIGTERM: the relay finishes deliveries in flight and gives its leases back (≤ 60 s).
    defaultInstanceWarmup: 300,
    // A new template version (release or config changed) replaces the hosts one by one.
    instanceRefresh: { strategy: "Rolling", preferences: { minHealthyPercentage: 50 } },
    tags: [{ key: "zonerelay:stage", value: plan.stage, propagateAtLaunch: true }],
  });
  return { slots, group, role, release };
}

export type RelayHosts = ReturnType<typeof relayHosts>;
