// Secrets, set per stage with `sst secret set <Name> '<json>'` (docs/deploy-aws.md); they reach the function and
// the hosts only inside the SecureString configs rendered by infra/configs.ts.
export function secrets() {
  return {
    /** `[{ "id": "app", "hash": "sha256:…", "zones": ["default"] }]` — hashes from `zonerelay hash-api-key`. */
    apiKeys: new sst.Secret("ApiKeys"),
    /** `[{ "domain": "example.com", "selector": "s2026", "privateKey": "-----BEGIN PRIVATE KEY-----…" }]` */
    dkimKeys: new sst.Secret("DkimKeys", "[]"),
    /** `{ "alice": { "password": "scrypt$…" } }` — from `zonerelay hash-password`; `{}` = no web admin. */
    adminUsers: new sst.Secret("AdminUsers", "{}"),
    /** ≥ 32 random characters; signs admin sessions on every relay host alike. */
    adminSessionSecret: new sst.Secret("AdminSessionSecret"),
  };
}

export type Secrets = ReturnType<typeof secrets>;
