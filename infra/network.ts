// The VPC: a public subnet for the relay hosts (their mail leaves from Elastic IPs, not through a NAT), two private
// subnets for Redis (and the intake function when it runs in the VPC), and the endpoints those need.

import { RELAY_API_PORT } from "./plan/host-config.ts";
import type { StackPlan } from "./plan/index.ts";

export function network(plan: StackPlan) {
  const { stack } = plan;
  const region = aws.getRegionOutput().region;
  const azs = aws.getAvailabilityZonesOutput({ state: "available" }).names;
  const tags = { "zonerelay:stage": plan.stage };
  const vpc = new aws.ec2.Vpc("Vpc", {
    cidrBlock: stack.vpcCidr,
    enableDnsHostnames: true,
    enableDnsSupport: true,
    tags: { ...tags, Name: `zonerelay-${plan.stage}` },
  });
  const gateway = new aws.ec2.InternetGateway("Gateway", { vpcId: vpc.id, tags });
  const publicRoutes = new aws.ec2.RouteTable("PublicRoutes", {
    vpcId: vpc.id,
    routes: [{ cidrBlock: "0.0.0.0/0", gatewayId: gateway.id }],
    tags,
  });
  // One zone: the slots' network interfaces live in this subnet, and a host can only attach one in its own zone.
  const relaySubnet = new aws.ec2.Subnet("RelaySubnet", {
    vpcId: vpc.id,
    cidrBlock: stack.relaySubnetCidr,
    availabilityZone: azs.apply((n) => n[0]!),
    mapPublicIpOnLaunch: true,
    tags: { ...tags, Name: `zonerelay-${plan.stage}-relay` },
  });
  new aws.ec2.RouteTableAssociation("RelaySubnetRoutes", { subnetId: relaySubnet.id, routeTableId: publicRoutes.id });

  const privateRoutes = new aws.ec2.RouteTable("PrivateRoutes", { vpcId: vpc.id, tags });
  const privateSubnets = stack.privateSubnetCidrs.map((cidrBlock, i) => {
    const subnet = new aws.ec2.Subnet(`PrivateSubnet${i}`, {
      vpcId: vpc.id,
      cidrBlock,
      availabilityZone: azs.apply((n) => n[i % n.length]!),
      tags: { ...tags, Name: `zonerelay-${plan.stage}-private-${i}` },
    });
    new aws.ec2.RouteTableAssociation(`PrivateSubnetRoutes${i}`, {
      subnetId: subnet.id,
      routeTableId: privateRoutes.id,
    });
    return subnet;
  });

  // S3 through a gateway endpoint (free): bodies never cross the internet gateway, from hosts or the function.
  new aws.ec2.VpcEndpoint("S3Endpoint", {
    vpcId: vpc.id,
    serviceName: $interpolate`com.amazonaws.${region}.s3`,
    vpcEndpointType: "Gateway",
    routeTableIds: [publicRoutes.id, privateRoutes.id],
    tags,
  });

  const fromVpc = (port: number) => ({ protocol: "tcp", fromPort: port, toPort: port, cidrBlocks: [stack.vpcCidr] });
  const anywhere = [{ protocol: "-1", fromPort: 0, toPort: 0, cidrBlocks: ["0.0.0.0/0"] }];
  const relaySecurityGroup = new aws.ec2.SecurityGroup("RelaySecurityGroup", {
    vpcId: vpc.id,
    description: "ZoneRelay hosts: outbound SMTP and AWS APIs; API and /metrics from inside the VPC",
    ingress: [fromVpc(RELAY_API_PORT)],
    egress: anywhere,
    tags,
  });
  const redisSecurityGroup = new aws.ec2.SecurityGroup("RedisSecurityGroup", {
    vpcId: vpc.id,
    description: "ZoneRelay Redis: from inside the VPC",
    ingress: [fromVpc(6379)],
    egress: anywhere,
    tags,
  });
  const intakeSecurityGroup = new aws.ec2.SecurityGroup("IntakeSecurityGroup", {
    vpcId: vpc.id,
    description: "ZoneRelay intake function (when it runs in the VPC)",
    egress: anywhere,
    tags,
  });
  if (stack.intakeInVpc) {
    // The function in a private subnet has no internet: SQS through an interface endpoint.
    const endpointSecurityGroup = new aws.ec2.SecurityGroup("EndpointSecurityGroup", {
      vpcId: vpc.id,
      ingress: [fromVpc(443)],
      egress: anywhere,
      tags,
    });
    new aws.ec2.VpcEndpoint("SqsEndpoint", {
      vpcId: vpc.id,
      serviceName: $interpolate`com.amazonaws.${region}.sqs`,
      vpcEndpointType: "Interface",
      privateDnsEnabled: true,
      subnetIds: privateSubnets.map((s) => s.id),
      securityGroupIds: [endpointSecurityGroup.id],
      tags,
    });
  }
  return { vpc, relaySubnet, privateSubnets, relaySecurityGroup, redisSecurityGroup, intakeSecurityGroup, region };
}

export type Network = ReturnType<typeof network>;
