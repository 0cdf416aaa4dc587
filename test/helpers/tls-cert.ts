/**
 * A throwaway self-signed certificate for the TLS servers of the health-check tests
 * (RSA 2048, valid two days), written by openssl.
 */
import { execFileSync } from 'node:child_process';

/** Writes a new key to `keyFile` and its self-signed certificate for `commonName` to `certFile`. */
export function writeSelfSignedCert(keyFile: string, certFile: string, commonName: string): void {
  execFileSync(
    'openssl',
    [
      'req',
      '-x509',
      '-newkey',
      'rsa:2048',
      '-nodes',
      '-subj',
      `/CN=${commonName}`,
      '-days',
      '2',
      '-keyout',
      keyFile,
      '-out',
      certFile,
    ],
    { stdio: 'ignore' },
  );
}
