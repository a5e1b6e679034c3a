// Whether to talk to the server that answered: the decision made after the
// TLS handshake and before the first byte of the protocol is sent.
//
// The client and `chat check` decide the same way, so it lives here once.
//
// Order of the checks: `--insecure` skips everything (and says so once); a
// pin in known_hosts must match exactly (a different certificate is refused
// loudly with both fingerprints, even one a CA would accept, because the
// user pinned this one); a certificate that verifies against the system's
// roots plus `--ca` is trusted; anything else is put to the user on a
// terminal (yes pins it) and refused otherwise, naming `--ca` and `--insecure`.

import { FatalError } from "./errors.ts";
import type { PeerCertificate } from "./peer_certificate.ts";

/**
 * Where pins live: the client's known_hosts file (lib/client/known_hosts.ts),
 * or nothing (`chat check` never pins).
 */
export interface PinStore {
  /** Where the pins are kept, named in messages. */
  readonly path: string;
  /** The pinned fingerprint of `host` (`HOST:PORT`), if any. */
  get(host: string): Promise<string | undefined>;
  /** Pins `fingerprint` for `host`, replacing an older pin. */
  add(host: string, fingerprint: string): Promise<void>;
}

/** Options of a {@linkcode TrustPolicy}. */
export interface TrustOptions {
  /** The server as `HOST:PORT` (the known-hosts key). */
  host: string;
  /** `--insecure`: accept any certificate. */
  insecure: boolean;
  /** Where pins live; undefined when there is no config directory. */
  knownHosts?: PinStore;
  /** Asks the user on a terminal; resolves true to trust. Absent without a terminal. */
  ask?: (question: string) => Promise<boolean>;
  /** Tells the user something (a warning or a notice). */
  notify: (text: string) => void;
}

/**
 * Decides, connection by connection, whether a server certificate is
 * trusted. It remembers whether it has warned about `--insecure` and what
 * the user accepted when there is no known-hosts file to pin it in.
 */
export class TrustPolicy {
  readonly #options: TrustOptions;
  #warned = false;
  /** Accepted for this run only, when there is no known-hosts file. */
  #acceptedHere: string | undefined;

  constructor(options: TrustOptions) {
    this.#options = options;
  }

  /** Resolves when `peer` is trusted; throws a FatalError (lib/errors.ts) saying why and what to do otherwise: never retried. */
  async check(peer: PeerCertificate): Promise<void> {
    const { host, insecure, knownHosts, ask, notify } = this.#options;
    if (insecure) {
      if (!this.#warned) {
        this.#warned = true;
        notify(
          `warning: --insecure: the certificate of ${host} is not verified ` +
            `(SHA-256 ${peer.fingerprint})`,
        );
      }
      return;
    }
    const pinned = this.#acceptedHere ?? await knownHosts?.get(host);
    if (pinned !== undefined) {
      if (sameFingerprint(pinned, peer.fingerprint)) return;
      const where = knownHosts
        ? `\nIf you trust the new certificate, delete the line for ${host} from ${knownHosts.path}.`
        : "";
      throw new FatalError(
        `WARNING: THE CERTIFICATE OF ${host} HAS CHANGED. Refusing to connect.\n` +
          `  pinned:    SHA-256 ${pinned}\n` +
          `  presented: SHA-256 ${peer.fingerprint}\n` +
          `Someone may be intercepting the connection, or the server has a new certificate.` +
          where,
      );
    }
    if (peer.authorized) return;
    const why = describeError(peer.authorizationError);
    if (ask) {
      const question = `The certificate of ${host} is not trusted (${why}).\n` +
        `  subject: ${peer.subject ?? "(none)"}\n` +
        `  SHA-256: ${peer.fingerprint}\n` +
        `Compare the fingerprint with the one the server's operator gives you.\n` +
        `Trust this certificate${knownHosts ? " and remember it" : " for this run"}? [y/N] `;
      if (await ask(question)) {
        if (knownHosts) {
          await knownHosts.add(host, peer.fingerprint);
          notify(`pinned the certificate of ${host} in ${knownHosts.path}`);
        } else {
          this.#acceptedHere = peer.fingerprint;
        }
        return;
      }
      throw new FatalError(`not connecting to ${host}: its certificate was not trusted`);
    }
    throw new FatalError(
      `cannot verify the certificate of ${host} (${why}; SHA-256 ${peer.fingerprint}): ` +
        `nothing was sent; pass --ca FILE with the server's certificate (or its CA) to trust it, ` +
        `or --insecure to skip verification`,
    );
  }
}

function sameFingerprint(a: string, b: string): boolean {
  const norm = (text: string) => text.replace(/[^0-9a-f]/gi, "").toUpperCase();
  return norm(a) === norm(b);
}

const REASONS: Record<string, string> = {
  DEPTH_ZERO_SELF_SIGNED_CERT: "self-signed certificate",
  SELF_SIGNED_CERT_IN_CHAIN: "self-signed certificate in the chain",
  UNABLE_TO_VERIFY_LEAF_SIGNATURE: "issuer unknown",
  UNABLE_TO_GET_ISSUER_CERT_LOCALLY: "issuer unknown",
  CERT_HAS_EXPIRED: "certificate expired",
  CERT_NOT_YET_VALID: "certificate not yet valid",
  ERR_TLS_CERT_ALTNAME_INVALID: "the certificate is for another host name",
};

function describeError(code: string | undefined): string {
  if (code === undefined) return "not verified";
  return REASONS[code] ?? code;
}
