import { X509Certificate } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { isIP } from 'node:net';
import { Agent, fetch as undiciFetch } from 'undici';

/** The part of `fetch` the agent uses towards the control plane (enrollment, artifact downloads). */
export type Fetch = (url: string | URL, init?: RequestInit) => Promise<Response>;

/** OpenSSL's verdicts for a chain that does not lead to a trusted root. */
const NOT_OUR_CA = new Set([
  'UNABLE_TO_VERIFY_LEAF_SIGNATURE',
  'UNABLE_TO_GET_ISSUER_CERT',
  'UNABLE_TO_GET_ISSUER_CERT_LOCALLY',
  'SELF_SIGNED_CERT_IN_CHAIN',
  'DEPTH_ZERO_SELF_SIGNED_CERT',
  'CERT_SIGNATURE_FAILURE',
  'CERT_UNTRUSTED',
]);

function errorCode(err: unknown): { code: string; message: string } | null {
  // fetch wraps the socket's error in `cause` (TypeError: fetch failed); MQTT.js hands it over as it is
  for (let e: unknown = err, depth = 0; e instanceof Error && depth < 5; e = e.cause, depth++) {
    const code = (e as { code?: unknown }).code;
    if (typeof code === 'string') return { code, message: e.message };
  }
  return null;
}

/**
 * Why a TLS server was refused, in words an operator can act on, or null when `err` is no
 * certificate refusal (the server down, a timeout, ...).
 */
export function tlsRefusal(err: unknown): string | null {
  const e = errorCode(err);
  if (e === null) return null;
  if (e.code === 'ERR_TLS_CERT_ALTNAME_INVALID') return `its certificate is not valid for this host name (${e.message})`;
  if (NOT_OUR_CA.has(e.code)) return `its certificate is not signed by the trusted CA (${e.code}: ${e.message})`;
  if (e.code === 'CERT_HAS_EXPIRED' || e.code === 'CERT_NOT_YET_VALID') return `its certificate is outside its validity (${e.code})`;
  return null;
}

/** The error's message with its cause's (fetch says only "fetch failed"). */
export function describeConnectionError(err: unknown): string {
  const refusal = tlsRefusal(err);
  if (refusal !== null) return `server refused: ${refusal}`;
  if (!(err instanceof Error)) return String(err);
  return err.cause instanceof Error ? `${err.message}: ${err.cause.message}` : err.message;
}

/**
 * Reads a CA certificate (PEM) to trust, checking it is one: a wrong file is named at start rather
 * than met as a refused server later.
 */
export async function readCaFile(file: string): Promise<string> {
  const pem = await readFile(file, 'utf8').catch((e: unknown) => {
    throw new Error(`--ca-file ${file} cannot be read: ${e instanceof Error ? e.message : String(e)}`);
  });
  let cert: X509Certificate;
  try {
    cert = new X509Certificate(pem);
  } catch {
    throw new Error(`--ca-file ${file} is not a PEM certificate`);
  }
  if (!cert.ca) throw new Error(`--ca-file ${file} is not a CA certificate (basicConstraints CA:FALSE)`);
  return pem;
}

/** URL schemes whose traffic is encrypted (and, with a pinned CA, verified against it). */
const ENCRYPTED_SCHEMES = new Set(['https:', 'mqtts:', 'wss:']);

/** A loopback host (127.0.0.0/8, ::1, localhost): traffic to it never leaves the machine. */
export function isLoopbackHost(hostname: string): boolean {
  const h = hostname.replace(/^\[|\]$/g, '').toLowerCase();
  if (h === 'localhost' || h === '::1') return true;
  return isIP(h) === 4 && h.startsWith('127.');
}

/** A plain-text URL refused because a CA is pinned: the agent does not downgrade to clear text. */
export class PlainTextRefused extends Error {
  constructor(what: string, url: string) {
    const scheme = url.slice(0, url.indexOf(':') + 1) || url;
    super(
      `${what} ${url} refused: a CA is pinned (enrollment or --ca-file), so the agent speaks only TLS and sends nothing over ${scheme}// in clear`,
    );
    this.name = 'PlainTextRefused';
  }
}

/**
 * No downgrade: with a pinned CA (`caPem`), throws PlainTextRefused for a URL that is not https/mqtts/wss
 * (`what` names it: "artifact URL", "MQTT broker URL"...). `loopback`: a plain URL to this machine is let through.
 */
export function assertEncrypted(url: string | URL, caPem: string | null, what: string, { loopback = false } = {}): void {
  if (caPem === null) return;
  const u = typeof url === 'string' ? new URL(url) : url;
  if (ENCRYPTED_SCHEMES.has(u.protocol)) return;
  if (loopback && isLoopbackHost(u.hostname)) return;
  throw new PlainTextRefused(what, u.href);
}

/** TLS client options trusting `caPem` alone (the system's public roots are not consulted), host name checked as always. */
export function pinnedTlsOptions(caPem: string): { ca: string; rejectUnauthorized: true } {
  return { ca: caPem, rejectUnauthorized: true };
}

/**
 * `fetch` that trusts `caPem` and nothing else (the system's public roots are not consulted), and
 * checks the host name as always; with it, an http:// URL is refused (PlainTextRefused) before any
 * connection. Without a CA, the platform's fetch with the system's roots.
 */
export function trustedFetch(caPem: string | null, what = 'URL'): Fetch {
  if (caPem === null) return (url, init) => fetch(url, init);
  const dispatcher = new Agent({ connect: pinnedTlsOptions(caPem) });
  return (url, init) => {
    try {
      assertEncrypted(url, caPem, what);
    } catch (e) {
      return Promise.reject(e instanceof Error ? e : new Error(String(e)));
    }
    return undiciFetch(url, { ...(init as Parameters<typeof undiciFetch>[1]), dispatcher });
  };
}
