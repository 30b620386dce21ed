/**
 * OAuth access tokens for Google REST APIs that have no client library in use here
 * (Vertex AI pipeline jobs, Cloud Run job executions): the workload's own service
 * account through Application Default Credentials (metadata server on Cloud Run; no key
 * files). Tests pass a fixed TokenSource instead.
 */
export interface TokenSource {
  getAccessToken(): Promise<string>;
}

/** Application Default Credentials with the cloud-platform scope. */
export function googleTokenSource(): TokenSource {
  // Loaded lazily: local runs and tests never pay for google-auth-library's start-up.
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  const { GoogleAuth } = require('google-auth-library') as typeof import('google-auth-library');
  const auth = new GoogleAuth({ scopes: ['https://www.googleapis.com/auth/cloud-platform'] });
  return {
    async getAccessToken() {
      const token = await auth.getAccessToken();
      if (!token) throw new Error('google-auth-library returned no access token (are Application Default Credentials configured?)');
      return token;
    },
  };
}
