// Types for mailauth's streaming DKIM body hashers (lib/dkim/body), which the package ships without declarations.
declare module "mailauth/lib/dkim/body/index.js" {
  interface DkimBodyHasher {
    update(chunk: Buffer | null, final?: boolean): void;
    digest(encoding: "base64"): string;
  }
  export function dkimBody(canonicalization: "relaxed" | "simple", algorithm: "sha256"): DkimBodyHasher;
}
