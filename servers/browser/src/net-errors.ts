import { FathomError } from '@fathom/core';

/**
 * What went wrong on the network when a page did not load, in words an agent can act on. Chromium
 * names the failure with a net:: code; the guard proxy every browser connection goes through knows
 * more for the connections it made (Chromium then only says the proxy failed), by Node's code.
 */
type Failure = 'refused' | 'not_resolved' | 'timed_out' | 'certificate' | 'tls' | 'reset' | 'unreachable' | 'unsafe_port' | 'redirects' | 'empty_error';

const CHROMIUM: Record<string, Failure> = {
  ERR_CONNECTION_REFUSED: 'refused',
  ERR_NAME_NOT_RESOLVED: 'not_resolved',
  ERR_NAME_RESOLUTION_FAILED: 'not_resolved',
  ERR_TIMED_OUT: 'timed_out',
  ERR_CONNECTION_TIMED_OUT: 'timed_out',
  ERR_SSL_PROTOCOL_ERROR: 'tls',
  ERR_SSL_VERSION_OR_CIPHER_MISMATCH: 'tls',
  ERR_CONNECTION_RESET: 'reset',
  ERR_CONNECTION_CLOSED: 'reset',
  ERR_EMPTY_RESPONSE: 'reset',
  ERR_CONNECTION_ABORTED: 'reset',
  ERR_ADDRESS_UNREACHABLE: 'unreachable',
  ERR_INTERNET_DISCONNECTED: 'unreachable',
  ERR_NETWORK_ACCESS_DENIED: 'unreachable',
  ERR_UNSAFE_PORT: 'unsafe_port',
  ERR_TOO_MANY_REDIRECTS: 'redirects',
  ERR_HTTP_RESPONSE_CODE_FAILURE: 'empty_error',
};

const NODE: Record<string, Failure> = {
  ECONNREFUSED: 'refused',
  ENOTFOUND: 'not_resolved',
  EAI_AGAIN: 'not_resolved',
  ETIMEDOUT: 'timed_out',
  ECONNRESET: 'reset',
  EPIPE: 'reset',
  EHOSTUNREACH: 'unreachable',
  ENETUNREACH: 'unreachable',
};

const CERTIFICATE: Record<string, string> = {
  ERR_CERT_AUTHORITY_INVALID: 'its certificate is not signed by an authority the browser trusts',
  ERR_CERT_COMMON_NAME_INVALID: 'its certificate is for another host name',
  ERR_CERT_DATE_INVALID: 'its certificate has expired or is not valid yet',
  ERR_CERT_REVOKED: 'its certificate was revoked',
  ERR_CERT_WEAK_KEY: 'its certificate has a key too weak to trust',
};

/** The origin as a person would type it, port included: http://127.0.0.1:8080 */
function where(url: URL): string {
  const port = url.port || (url.protocol === 'https:' ? '443' : url.protocol === 'http:' ? '80' : '');
  return `${url.protocol}//${url.hostname}${port ? `:${port}` : ''}`;
}

function sentence(failure: Failure, url: URL, code: string): { message: string; hint: string } {
  const at = where(url);
  switch (failure) {
    case 'refused':
      return {
        message: `Connection refused: nothing is listening at ${at}.`,
        hint: 'The server is down or on another port: check the address, start the server, or try again later.',
      };
    case 'not_resolved':
      return {
        message: `Name not resolved: ${url.hostname} has no address (DNS does not know it).`,
        hint: 'Check the spelling of the host name; if it is right, this machine may have no DNS or no internet access.',
      };
    case 'timed_out':
      return {
        message: `Timed out: ${at} did not answer.`,
        hint: 'The server may be down or overloaded, or a firewall drops the connection: try again later or find another source.',
      };
    case 'certificate':
      return {
        message: `Certificate error: ${at} is not trusted, ${CERTIFICATE[code] ?? 'its certificate is not valid'} (${code}).`,
        hint: 'The browser does not open sites whose certificate it cannot verify: find another source for this page.',
      };
    case 'tls':
      return {
        message: `Secure connection failed: ${at} did not complete the TLS handshake (${code}).`,
        hint: 'The server may not speak https on this port: check the address (http:// or https://, and the port).',
      };
    case 'reset':
      return {
        message: `Connection lost: ${at} closed the connection without an answer.`,
        hint:
          url.protocol === 'https:'
            ? 'The server may not speak https on this port (check http:// or https://, and the port); else try again, or find another source.'
            : 'Try again; if it keeps happening the server is failing, so find another source.',
      };
    case 'unreachable':
      return {
        message: `Network unreachable: there is no route to ${url.hostname}.`,
        hint: 'This machine may be offline, or its network does not reach this address.',
      };
    case 'unsafe_port':
      return {
        message: `Port ${url.port} is one browsers never open (${at}).`,
        hint: 'Use the address the service publishes for the web (usually port 80 or 443).',
      };
    case 'redirects':
      return {
        message: `Too many redirects: ${url.href} keeps redirecting in a loop.`,
        hint: 'Try the address the page should end at, or another source.',
      };
    case 'empty_error':
      return {
        message: `${url.href} answered with an HTTP error and an empty page.`,
        hint: 'Check the address, or try again later.',
      };
  }
}

/**
 * The error for a page at `url` that did not load with Chromium's `code` (ERR_...). `proxied` is
 * what the guard proxy met connecting for it, when it did: its Node code, or the guard's refusal.
 */
export function netError(code: string, url: URL, proxied?: Error, cause?: unknown): FathomError {
  if (proxied instanceof FathomError && proxied.code === 'blocked_address') {
    const reason = proxied.message.replace(/^Refused to fetch .*?: /, '');
    return new FathomError('blocked_address', `Blocked by the egress policy: the browser may not connect to ${where(url)} (${reason}).`, {
      ...(proxied.hint ? { hint: proxied.hint } : {}),
      ...(proxied.details ? { details: proxied.details } : {}),
      cause: cause ?? proxied,
    });
  }
  const proxiedCode = (proxied as NodeJS.ErrnoException | undefined)?.code;
  const failure = (proxiedCode && NODE[proxiedCode]) || CHROMIUM[code] || (code.startsWith('ERR_CERT_') ? 'certificate' : undefined);
  if (!failure) {
    return new FathomError('network', `Could not load ${url.href}: Chromium says ${code}${proxied ? ` (${proxied.message})` : ''}.`, {
      hint: 'Check the address, or try again later.',
      cause,
    });
  }
  const { message, hint } = sentence(failure, url, code);
  return new FathomError(failure === 'timed_out' ? 'timeout' : 'network', message, { hint, details: { chromium: code, ...(proxiedCode ? { proxy: proxiedCode } : {}) }, cause });
}

/** The error for a host name that does not resolve, found before the browser tries it. */
export function notResolved(url: URL, cause?: unknown): FathomError {
  const { message, hint } = sentence('not_resolved', url, '');
  return new FathomError('network', message, { hint, cause });
}
