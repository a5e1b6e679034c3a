// The checks of `chat check`, in the order they run: what PROTOCOL.md marks
// core (each decides the exit code), then the extensions of §8–§13
// (reported, never deciding it). The checks live by subject: login_checks.ts
// (who may speak), message_checks.ts (relay, time, replay),
// framing_checks.ts (lines and frames), extension_checks.ts (§8),
// room_checks.ts (§9–§11: features, presence, direct messages) and
// identity_checks.ts (§12–§13, as far as no operator rights are needed); a
// new check is written there and listed here.
//
// Every check opens its own connections with fresh nicknames, so one
// check's failure cannot spoil the next. A busy server is expected: a check
// waits for its own run's marker rather than counting frames, and proves
// that something did NOT happen by ordering, not by sleeping, wherever the
// protocol gives an order (§4: each client gets stored messages in the
// server's order). Only where it gives none (a reply to a blank or an
// oversize line, a message to a connection that never logged in, an
// extension's ack) does a check listen for `quietMs`.

import type { Check } from "./probe.ts";
import { extIds, extSeq, extSince } from "./extension_checks.ts";
import { extOpsRefused, extRegister } from "./identity_checks.ts";
import { badFrames, lineEndings, oversizeLine, splitFrames } from "./framing_checks.ts";
import {
  beforeLogin,
  duplicateNickname,
  login,
  nicknameRules,
  retryAfterRefusal,
} from "./login_checks.ts";
import { relay, replay, replayOwn, spoofedFrom, time } from "./message_checks.ts";
import {
  extCoreLogin,
  extDirect,
  extDirectNotReplayed,
  extDirectRefused,
  extFeatures,
  extJoinLeave,
  extWho,
  extWhoCommand,
} from "./room_checks.ts";

/** Every check, in the order they run: the login first (the others need it), extensions last. */
export const CHECKS: readonly Check[] = [
  login,
  nicknameRules,
  duplicateNickname,
  retryAfterRefusal,
  relay,
  time,
  spoofedFrom,
  beforeLogin,
  replay,
  replayOwn,
  badFrames,
  oversizeLine,
  splitFrames,
  lineEndings,
  extIds,
  extSeq,
  extSince,
  extFeatures,
  extCoreLogin,
  extWho,
  extJoinLeave,
  extWhoCommand,
  extDirect,
  extDirectRefused,
  extDirectNotReplayed,
  extRegister,
  extOpsRefused,
];
