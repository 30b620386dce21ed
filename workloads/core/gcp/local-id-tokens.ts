import type { FastifyInstance } from 'fastify';
import { createSign, generateKeyPairSync, KeyObject, randomBytes } from 'node:crypto';

/**
 * A stand-in for Google's ID-token issuer, for machines without Google Cloud: `npm start`
 * signs the ingestion calls it makes (as Cloud Scheduler does with its OIDC token), and
 * tests and drills do the same. The service verifies these tokens with the same code it
 * runs on Cloud Run (google-auth-library's OAuth2Client.verifyIdToken), pointed at
 * {@link certs} served locally instead of Google's certificates.
 *
 * Written here because no library signs Google-shaped ID tokens (RS256, Google's issuer,
 * `email`/`email_verified`) with a key of one's own; it is a JWT of three base64url parts.
 */
export class LocalIdTokenIssuer {
  readonly kid = randomBytes(8).toString('hex');
  private readonly privateKey: KeyObject;
  private readonly publicPem: string;

  constructor() {
    const { privateKey, publicKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
    this.privateKey = privateKey;
    this.publicPem = publicKey.export({ type: 'spki', format: 'pem' }).toString();
  }

  /** The verification certificates in the shape of Google's PEM endpoint: `{ kid: pem }`. */
  certs(): Record<string, string> {
    return { [this.kid]: this.publicPem };
  }

  /** An ID token for `audience`, issued to the service account `email`, valid `lifetimeS` seconds. */
  sign(args: { audience: string; email: string; lifetimeS?: number; now?: number }): string {
    const iat = Math.floor((args.now ?? Date.now()) / 1000);
    const header = { alg: 'RS256', typ: 'JWT', kid: this.kid };
    const payload = {
      iss: 'https://accounts.google.com',
      aud: args.audience,
      sub: args.email,
      email: args.email,
      email_verified: true,
      iat,
      exp: iat + (args.lifetimeS ?? 3600),
    };
    const signed = `${base64url(JSON.stringify(header))}.${base64url(JSON.stringify(payload))}`;
    const signature = createSign('RSA-SHA256').update(signed).sign(this.privateKey).toString('base64url');
    return `${signed}.${signature}`;
  }
}

const base64url = (s: string): string => Buffer.from(s).toString('base64url');

/** Serves the issuer's certificates at `path` as Google serves its own (cached for an hour by verifiers). */
export function registerCertsRoute(app: FastifyInstance, path: string, issuer: LocalIdTokenIssuer): void {
  app.get(path, async (_req, reply) => reply.header('cache-control', 'public, max-age=3600').send(issuer.certs()));
}

/** Who the local scheduler stand-in is: the audience and service account the service is configured to accept. */
export const LOCAL_SCHEDULER = {
  serviceAccount: 'ingest-scheduler@local.creature-vision',
  audience: 'creature-vision-inference-internal',
} as const;
