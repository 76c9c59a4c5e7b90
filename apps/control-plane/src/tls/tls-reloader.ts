import { X509Certificate } from 'node:crypto';
import type { TlsSettings } from '../config.js';
import type { Logger } from '../infra/logger.js';
import { loadTlsMaterial, type TlsMaterial } from './tls-material.js';

/** A TLS listener whose certificate can be swapped: new handshakes get the new pair, open connections keep theirs. */
export type CertificateSink = (pair: { cert: string; key: string }) => void;

const errorMessage = (e: unknown): string => (e instanceof Error ? e.message : String(e));

/** The PEM certificates of a file, in order (a chain file: the leaf first). */
function pemBlocks(pem: string): string[] {
  return pem.match(/-----BEGIN CERTIFICATE-----[\s\S]+?-----END CERTIFICATE-----/g) ?? [];
}

/**
 * Whether the chain in `certPem` leads to `caPem`: its last certificate is the CA itself or one the
 * CA signed. Devices pinned that CA: a certificate of another would lock every one of them out.
 */
export function chainsTo(certPem: string, caPem: string): boolean {
  const top = pemBlocks(certPem).at(-1);
  if (top === undefined) return false;
  const ca = new X509Certificate(caPem);
  const cert = new X509Certificate(top);
  if (cert.fingerprint256 === ca.fingerprint256) return true;
  return cert.checkIssued(ca) && cert.verify(ca.publicKey);
}

/**
 * Re-reads the TLS material (the operator's files, or the generated certificate, re-issued from the
 * same CA when its end nears) on SIGHUP and every `intervalMs`, and hands a changed, valid pair to
 * the listeners (the HTTPS server, the embedded mqtts server). A pair that fails the start's checks
 * (unreadable, key not the certificate's) or whose chain does not lead to the CA devices pinned is
 * refused with an error log, once per bad content, and the serving pair stays. The CA handed to
 * devices at enrollment is the one read at start: a new CA takes a restart.
 */
export class TlsReloader {
  private current: TlsMaterial;
  private timer: NodeJS.Timeout | null = null;
  private running: Promise<unknown> = Promise.resolve();
  /** The last refused content and why (logged once, not at every check). */
  private refused: string | null = null;
  private readonly onSighup = (): void => void this.reload('SIGHUP');

  constructor(
    private readonly settings: TlsSettings,
    initial: TlsMaterial,
    private readonly sinks: readonly CertificateSink[],
    private readonly log: Logger,
    private readonly intervalMs: number,
  ) {
    this.current = initial;
  }

  start(): void {
    process.on('SIGHUP', this.onSighup);
    if (this.intervalMs > 0) {
      this.timer = setInterval(() => void this.reload('check'), this.intervalMs);
      this.timer.unref();
    }
  }

  async stop(): Promise<void> {
    process.off('SIGHUP', this.onSighup);
    if (this.timer) clearInterval(this.timer);
    this.timer = null;
    await this.running;
  }

  /** One check, after any still running: 'reloaded', 'unchanged' or 'refused'. */
  reload(trigger: 'SIGHUP' | 'check'): Promise<'reloaded' | 'unchanged' | 'refused'> {
    const next = this.running.then(() => this.check(trigger));
    this.running = next.catch(() => undefined);
    return next;
  }

  private async check(trigger: string): Promise<'reloaded' | 'unchanged' | 'refused'> {
    let m: TlsMaterial;
    try {
      m = await loadTlsMaterial(this.settings, this.log);
    } catch (e) {
      return this.refuse(`${trigger}:${errorMessage(e)}`, errorMessage(e), trigger);
    }
    if (m.cert === this.current.cert && m.key === this.current.key) {
      if (trigger === 'SIGHUP') this.log.info('TLS certificate unchanged', { trigger });
      this.refused = null;
      return 'unchanged';
    }
    let leads = false;
    try {
      leads = chainsTo(m.cert, this.current.caPem);
    } catch {
      leads = false;
    }
    if (!leads)
      return this.refuse(
        m.cert,
        'the new certificate is not issued by the CA devices pinned at enrollment (a new CA takes a restart and devices handed it)',
        trigger,
      );
    for (const sink of this.sinks) sink({ cert: m.cert, key: m.key });
    const x = new X509Certificate(m.cert);
    this.log.info('TLS certificate reloaded', { trigger, serial: x.serialNumber, validTo: x.validTo, subject: x.subject });
    this.current = { ...m, caPem: this.current.caPem };
    this.refused = null;
    return 'reloaded';
  }

  private refuse(content: string, reason: string, trigger: string): 'refused' {
    if (this.refused !== content || trigger === 'SIGHUP')
      this.log.error('TLS certificate reload refused; the current certificate stays', { trigger, reason });
    this.refused = content;
    return 'refused';
  }
}
