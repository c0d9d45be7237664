// The boot script of a relay host (Amazon Linux 2023): install Node and the release, claim a free address slot
// (attach its network interface, whose secondary IPs carry the Elastic IPs), fetch that slot's config, and run the
// relay under systemd. A crash is a restart (Restart=always), a scale-in a graceful SIGTERM.
import { RELAY_API_PORT } from "./host-config.ts";

export interface UserDataInput {
  stage: string;
  region: string;
  releaseBucket: string;
  releaseKey: string;
  /** SSM path prefix of the slot configs: `<prefix>/relay/slot-<n>`. */
  parameterPrefix: string;
  /** What this boot script installs (release and config versions): a change makes a new script, so new hosts. */
  revision?: string;
}

/** The tag that marks a slot's network interface (value: the stage) and the one that numbers it. */
export const SLOT_TAG = "zonerelay:slot-of";
export const SLOT_INDEX_TAG = "zonerelay:slot";

export function relayUserData(input: UserDataInput): string {
  const q = (s: string) => `'${s.replace(/'/g, `'\\''`)}'`;
  return `#!/bin/bash
# zonerelay ${input.stage}: ${(input.revision ?? "").replace(/\n/g, " ")}
set -euo pipefail
export AWS_DEFAULT_REGION=${q(input.region)}
dnf install -y nodejs20 nodejs20-npm unzip gcc-c++ make python3
alternatives --install /usr/bin/node node /usr/bin/node-20 100 || true
alternatives --install /usr/bin/npm npm /usr/bin/npm-20 100 || true

# The release: the relay's sources with its lock file; native modules are built here for this architecture.
install -d -o root -m 755 /opt/zonerelay /var/lib/zonerelay /etc/zonerelay
aws s3 cp ${q(`s3://${input.releaseBucket}/${input.releaseKey}`)} /tmp/zonerelay.zip
unzip -oq /tmp/zonerelay.zip -d /opt/zonerelay
(cd /opt/zonerelay && npm ci --omit=dev --no-audit --no-fund)

# Claim a slot: the first free network interface of this stage in this zone. Attaching is atomic, so two hosts
# booting at once never share one; a host that finds none stops (autoscaling never runs more hosts than slots).
TOKEN=$(curl -sX PUT http://169.254.169.254/latest/api/token -H 'X-aws-ec2-metadata-token-ttl-seconds: 300')
meta() { curl -s -H "X-aws-ec2-metadata-token: $TOKEN" "http://169.254.169.254/latest/meta-data/$1"; }
INSTANCE=$(meta instance-id)
ZONE=$(meta placement/availability-zone)
SLOT=""
for attempt in 1 2 3 4 5 6 7 8 9 10; do
  for ENI in $(aws ec2 describe-network-interfaces \\
      --filters Name=tag:${SLOT_TAG},Values=${q(input.stage)} Name=status,Values=available Name=availability-zone,Values="$ZONE" \\
      --query 'NetworkInterfaces[].NetworkInterfaceId' --output text); do
    if aws ec2 attach-network-interface --network-interface-id "$ENI" --instance-id "$INSTANCE" --device-index 1 >/dev/null 2>&1; then
      SLOT=$(aws ec2 describe-network-interfaces --network-interface-ids "$ENI" \\
        --query "NetworkInterfaces[0].TagSet[?Key=='${SLOT_INDEX_TAG}'].Value" --output text)
      break 2
    fi
  done
  sleep 15 # a scaled-in host may still be detaching its interface
done
if [ -z "$SLOT" ]; then echo "no free address slot for this host" >&2; shutdown -h now; exit 1; fi
# amazon-ec2-net-utils configures the interface's secondary IPs and a routing table per interface, so a
# connection bound to a slot address leaves through that interface (and its Elastic IP).
for i in $(seq 1 30); do ip -4 addr show | grep -q "scope global secondary" && break; sleep 2; done

aws ssm get-parameter --with-decryption --name ${q(`${input.parameterPrefix}/relay/slot-`)}"$SLOT" \\
  --query Parameter.Value --output text > /etc/zonerelay/config.json
chmod 600 /etc/zonerelay/config.json

cat > /etc/systemd/system/zonerelay.service <<'UNIT'
[Unit]
Description=ZoneRelay
After=network-online.target
Wants=network-online.target
[Service]
WorkingDirectory=/opt/zonerelay
ExecStart=/usr/bin/node /opt/zonerelay/scripts/zonerelay.mjs start --config /etc/zonerelay/config.json
Restart=always
RestartSec=2
KillSignal=SIGTERM
TimeoutStopSec=60
LimitNOFILE=65536
[Install]
WantedBy=multi-user.target
UNIT
systemctl daemon-reload
systemctl enable --now zonerelay
# /metrics on :${RELAY_API_PORT} for Prometheus (see docs/deploy-aws.md).
`;
}
