// AWS SDK clients for S3 and SQS, for real AWS or for an S3/SQS-compatible endpoint (emulators, MinIO, LocalStack).
import { S3Client } from "@aws-sdk/client-s3";
import { SQSClient } from "@aws-sdk/client-sqs";

export interface AwsClientOptions {
  region: string;
  /** A non-AWS endpoint such as http://127.0.0.1:15000; unset for real AWS. */
  endpoint?: string;
  /** Path-style bucket addressing (bucket in the path, not the host name); defaults to true with an endpoint. */
  forcePathStyle?: boolean;
  /** Static credentials; unset uses the SDK's default chain (environment, profile, instance role). */
  credentials?: { accessKeyId: string; secretAccessKey: string; sessionToken?: string };
  /**
   * Checksums only where the API requires them (always so with an endpoint). A client that presigns URLs needs
   * this: otherwise the SDK signs a CRC of an empty body into every PUT URL (aws-sdk-js-v3 #6810).
   */
  checksumsWhenRequired?: boolean;
}

const WHEN_REQUIRED = {
  requestChecksumCalculation: "WHEN_REQUIRED" as const,
  responseChecksumValidation: "WHEN_REQUIRED" as const,
};

export function s3ClientFor(options: AwsClientOptions): S3Client {
  const { region, endpoint, credentials } = options;
  return new S3Client({
    region,
    ...(credentials ? { credentials } : {}),
    ...(endpoint
      ? {
          endpoint,
          forcePathStyle: options.forcePathStyle ?? true,
          // The SDK's default flexible checksums (CRC32 trailers on every streamed upload) are not understood by
          // every S3-compatible server: s3rver stores the aws-chunked framing as part of the object, silently
          // corrupting it. Checksums only where the API requires them keeps bodies byte for byte everywhere.
          ...WHEN_REQUIRED,
        }
      : { forcePathStyle: options.forcePathStyle ?? false, ...(options.checksumsWhenRequired ? WHEN_REQUIRED : {}) }),
  });
}

export function sqsClientFor(options: Omit<AwsClientOptions, "forcePathStyle">): SQSClient {
  const { region, endpoint, credentials } = options;
  return new SQSClient({ region, ...(credentials ? { credentials } : {}), ...(endpoint ? { endpoint } : {}) });
}
