import type { FastifyHelmetOptions } from '@fastify/helmet';

/**
 * Security headers for the pages this project serves (the upload page, the local
 * dashboard), passed to @fastify/helmet. The pages load only their own files: no inline
 * script or style (styles set from JavaScript go through the CSSOM, which the policy
 * allows), images from the page itself, `data:` (the favicon) and `blob:` (the upload
 * preview); nothing may frame them. Helmet's defaults are not used: they allow inline
 * styles and `upgrade-insecure-requests`, which breaks the pages on http://127.0.0.1.
 */
export const PAGE_SECURITY_HEADERS: FastifyHelmetOptions = {
  contentSecurityPolicy: {
    useDefaults: false,
    directives: {
      defaultSrc: ["'self'"],
      scriptSrc: ["'self'"],
      styleSrc: ["'self'"],
      imgSrc: ["'self'", 'data:', 'blob:'],
      connectSrc: ["'self'"],
      fontSrc: ["'self'"],
      objectSrc: ["'none'"],
      baseUri: ["'none'"],
      formAction: ["'self'"],
      frameAncestors: ["'none'"],
    },
  },
  // The pages fetch nothing cross-origin and are fetched by nobody else.
  crossOriginResourcePolicy: { policy: 'same-origin' },
};
