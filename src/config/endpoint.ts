// S3 endpoints as URLs we can hand to the SDK, whether they come from a binding (often a
// bare host) or from AWS_ENDPOINT_URL* (always a URL).

export interface EndpointOptions {
  /** Accept `s3.example.com` (binding fields do; env vars must be full URLs). */
  allowBareHost: boolean;
  port?: string;
  /** false → a bare host gets http:// instead of https://. */
  useTls?: boolean;
}

/** An http(s) URL without credentials or trailing slash, or undefined when not one. */
export function normalizeEndpoint(raw: string, options: EndpointOptions): string | undefined {
  const hasScheme = /^[a-z][a-z0-9+.-]*:\/\//i.test(raw);
  if (!hasScheme && !options.allowBareHost) return undefined;
  const candidate = hasScheme ? raw : `${options.useTls === false ? 'http' : 'https'}://${raw}`;
  let url: URL;
  try {
    url = new URL(candidate);
  } catch {
    return undefined;
  }
  if ((url.protocol !== 'http:' && url.protocol !== 'https:') || url.hostname === '') return undefined;
  if (url.username !== '' || url.password !== '' || url.search !== '' || url.hash !== '') return undefined;
  if (options.port !== undefined && url.port === '') url.port = options.port;
  return `${url.protocol}//${url.host}${url.pathname.replace(/\/+$/, '')}`;
}

/** Amazon's own endpoints: addressed virtual-host style by default, not path style. */
export function isAwsEndpoint(endpoint: string): boolean {
  return /\.amazonaws\.com(?:\.cn)?(?::\d+)?$/i.test(new URL(endpoint).host);
}
