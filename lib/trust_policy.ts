// Whether to talk to the server that answered: the decision made after the
// TLS handshake and before the first byte of the protocol is sent.
//
// The client and `chat check` decide the same way, so it lives here once.
//
// Order of the checks: `--insecure` skips everything (and says so once); a
// pin in known_hosts must match exactly (a different certificate is refused
// loudly with both fingerprints, even one a CA would accept, because the
// user pinned this one); a certificate that verifies against the system's
// roots plus `--ca` is trusted; one that is byte for byte a certificate of
// the `--ca` file is pinned, and trusted whatever name or address was
// dialed; anything else is put to the user on a terminal (yes pins it) and
// refused otherwise, naming `--ca` and `--insecure`.
//
// Why a pinned certificate skips the name check: giving the client the
// server's exact certificate says which key to expect, which is all a name
// check is for. The usual self-made certificate (`openssl req -x509 …`: a
// common name of the maker's choosing, no subjectAltName) can then be used
// by address or LAN name. A certificate that merely chains to a CA of the
// file still needs the right name: a CA vouches for names, not for keys.

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
  /** The certificates of the `--ca` file (DER): one presented byte for byte is pinned. */
  pinned?: readonly Uint8Array[];
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
  /** Said that a pinned certificate is for another name (once a run). */
  #toldName = false;
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
      if (sameFingerprint(pinned, peer.fingerprint)) {
        this.#nameMismatch(
          peer,
          knownHosts ? `in ${knownHosts.path}` : "for this run, at the prompt",
        );
        return;
      }
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
    if (peer.authorizationError === NAME_MISMATCH && this.#isPinned(peer)) {
      this.#nameMismatch(peer, "with --ca: it is the very certificate in that file");
      return;
    }
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

  /** True when `peer` is byte for byte one of the `--ca` file's certificates. */
  #isPinned(peer: PeerCertificate): boolean {
    const der = peer.der;
    if (!der) return false;
    return (this.#options.pinned ?? []).some((cert) =>
      cert.length === der.length && cert.every((byte, i) => byte === der[i])
    );
  }

  /** Says, once a run, that a certificate trusted by its pin is for another name. */
  #nameMismatch(peer: PeerCertificate, where: string): void {
    if (peer.authorizationError !== NAME_MISMATCH || this.#toldName) return;
    this.#toldName = true;
    const subject = peer.subject === undefined ? "" : ` (CN ${peer.subject})`;
    this.#options.notify(
      `the certificate of ${this.#options.host} is for another name${subject}; ` +
        `trusted because it is pinned ${where}`,
    );
  }
}

/** node:tls's code for a certificate whose names do not include the one dialed. */
const NAME_MISMATCH = "ERR_TLS_CERT_ALTNAME_INVALID";

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
  [NAME_MISMATCH]: "the certificate is for another host name",
};

function describeError(code: string | undefined): string {
  if (code === undefined) return "not verified";
  return REASONS[code] ?? code;
}
