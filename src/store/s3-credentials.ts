// The credentials an S3 client gets: exactly what the configuration holds. Handing the SDK
// an explicit value (or provider) keeps it from its default chain, whose last step asks the
// cloud's instance metadata (169.254.169.254) for the host's role: from an app container
// that would be the Diego cell's identity, never the app's.
import { fromIni } from '@aws-sdk/credential-provider-ini';
import type { S3ClientConfig } from '@aws-sdk/client-s3';
import type { S3Target } from '../config/types.ts';
import { StoreError } from './store.ts';

export function explicitCredentials(target: S3Target): NonNullable<S3ClientConfig['credentials']> {
  // A copy: the config is frozen and the SDK annotates the credentials object it is given.
  if (target.credentials) return { ...target.credentials };
  if (target.profile !== undefined) return fromIni({ profile: target.profile });
  return () => Promise.reject(new StoreError(
    `no credentials for the store s3://${target.bucket} (${target.source}): set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, ` +
      'or bind a service with access_key_id and secret_access_key (the SDK default chain and instance metadata are never used)',
  ));
}
