// How the intake function is bundled (infra/intake.ts), shared with bench/lambda-cold-start.ts so the benchmark
// measures what is deployed.

/** Never loaded on the S3 + SQS path (the local SQLite queue, MongoDB, plugins); left out of the bundle. */
export const LAMBDA_EXTERNALS = ["better-sqlite3", "mongodb", "kerberos", "snappy", "@mongodb-js/zstd"];
