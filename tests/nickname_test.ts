// Unit tests for the nickname rules of PROTOCOL.md §2 (lib/nickname.ts).

import assert from "node:assert/strict";
import { checkNickname, MAX_NICKNAME_CODE_POINTS, nicknameKey } from "../lib/nickname.ts";

function assertValid(raw: string, expected = raw): void {
  assert.deepEqual(checkNickname(raw), { ok: true, nickname: expected }, JSON.stringify(raw));
}

function assertInvalid(raw: string, reason: RegExp): void {
  const result = checkNickname(raw);
  assert.equal(result.ok, false, `${JSON.stringify(raw)} should be refused`);
  if (!result.ok) assert.match(result.reason, reason, JSON.stringify(raw));
}

Deno.test("accepts ordinary and Unicode nicknames unchanged", () => {
  for (
    const name of [
      "bob",
      "Bob Smith",
      "a",
      "élodie",
      "Дмитрий",
      "李小龍",
      "مريم",
      "😀🎉",
      "o'brien-2",
    ]
  ) {
    assertValid(name);
  }
});

Deno.test("accepts 32 code points, counting an astral character as one", () => {
  assert.equal(MAX_NICKNAME_CODE_POINTS, 32);
  assertValid("a".repeat(32));
  // 32 code points but 64 UTF-16 code units.
  assertValid("😀".repeat(32));
  assertValid(`${"😀".repeat(16)}${"b".repeat(16)}`);
});

Deno.test("refuses 33 code points", () => {
  assertInvalid("a".repeat(33), /at most 32/);
  assertInvalid("😀".repeat(33), /at most 32/);
  assertInvalid(`${"😀".repeat(32)}b`, /at most 32/);
});

Deno.test("refuses an empty nickname", () => {
  assertInvalid("", /empty/);
});

Deno.test("refuses C0, DEL and C1 control characters anywhere", () => {
  for (
    const control of ["\u0000", "\u0007", "\t", "\n", "\r", "\u001b", "\u007f", "\u0085", "\u009b"]
  ) {
    assertInvalid(`bo${control}b`, /control/);
    assertInvalid(`${control}bob`, /control|white space/);
    assertInvalid(`bob${control}`, /control|white space/);
  }
  assertInvalid("\u001b[31mbob", /control/);
});

Deno.test("refuses format characters: bidi controls and zero-width characters", () => {
  for (
    const format of [
      "\u202e",
      "\u202d",
      "\u200b",
      "\u200d",
      "\u200e",
      "\ufeff",
      "\u2066",
      "\u2069",
      "\u00ad",
    ]
  ) {
    assertInvalid(`bo${format}b`, /format/);
    assertInvalid(`${format}bob`, /format|white space/);
  }
  // The classic: "alice" that renders as "ecila" backwards.
  assertInvalid("\u202eecila", /format/);
});

Deno.test("refuses leading or trailing white space, including no-break and ideographic spaces", () => {
  for (const space of [" ", "\u00a0", "\u3000", "\u2003", "\u1680"]) {
    assertInvalid(`${space}bob`, /white space/);
    assertInvalid(`bob${space}`, /white space/);
    assertInvalid(space, /white space/);
  }
});

Deno.test("allows white space between words", () => {
  assertValid("bob smith");
  assertValid("bob\u00a0smith");
  assertValid("山田\u3000太郎");
});

Deno.test("refuses lone surrogates", () => {
  assertInvalid("bob\ud800", /Unicode/);
  assertInvalid("\udc00bob", /Unicode/);
});

Deno.test("returns the NFC form: e and a combining acute become é", () => {
  assertValid("Ame\u0301lie", "Am\u00e9lie");
  assert.deepEqual(checkNickname("e\u0301"), checkNickname("\u00e9"));
});

Deno.test("counts code points after NFC normalisation", () => {
  // 64 code points as sent, 32 after NFC.
  const decomposed = "e\u0301".repeat(32);
  assert.equal([...decomposed].length, 64);
  assertValid(decomposed, "\u00e9".repeat(32));
  assertInvalid("e\u0301".repeat(33), /at most 32/);
  // A combining mark with no precomposed form still counts as its own code point.
  assertInvalid("q\u0301".repeat(17), /at most 32/);
});

Deno.test("nicknameKey ignores case", () => {
  assert.equal(nicknameKey("Bob"), nicknameKey("bob"));
  assert.equal(nicknameKey("BOB"), nicknameKey("bob"));
  assert.equal(nicknameKey("bOb"), nicknameKey("BoB"));
  assert.equal(nicknameKey("ÉLODIE"), nicknameKey("élodie"));
  assert.equal(nicknameKey("ΣΟΦΙΑ"), nicknameKey("σοφια"));
});

Deno.test("nicknameKey folds ß and SS together", () => {
  assert.equal(nicknameKey("straße"), nicknameKey("STRASSE"));
  assert.equal(nicknameKey("straße"), nicknameKey("strasse"));
  assert.equal(nicknameKey("STRASSE"), nicknameKey("Strasse"));
});

Deno.test("nicknameKey equates composed and decomposed forms", () => {
  assert.equal(nicknameKey("Am\u00e9lie"), nicknameKey("Ame\u0301lie"));
  assert.equal(nicknameKey("AM\u00c9LIE"), nicknameKey("ame\u0301lie"));
});

Deno.test("nicknameKey keeps different names apart", () => {
  assert.notEqual(nicknameKey("bob"), nicknameKey("bobby"));
  assert.notEqual(nicknameKey("bob"), nicknameKey("bob2"));
  assert.notEqual(nicknameKey("bob"), nicknameKey("b o b"));
  assert.notEqual(nicknameKey("élodie"), nicknameKey("elodie"));
});

// Look-alikes (issue 16): nothing may display as somebody else's nickname.

Deno.test("refuses variation selectors, which draw nothing after a name", () => {
  for (const selector of ["\ufe00", "\ufe01", "\ufe0e", "\ufe0f", "\u{e0100}", "\u{e01ef}"]) {
    assertInvalid(`alice${selector}`, /invisible/);
    assertInvalid(`al${selector}ice`, /invisible/);
  }
});

Deno.test("refuses Mongolian free variation selectors and Khmer inherent vowels", () => {
  for (const invisible of ["\u180b", "\u180c", "\u180d", "\u180f", "\u17b4", "\u17b5"]) {
    assertInvalid(`alice${invisible}`, /invisible/);
  }
  // U+180E (Mongolian vowel separator) is a format character as well.
  assertInvalid("alice\u180e", /format|invisible/);
});

Deno.test("refuses Hangul fillers, the grapheme joiner and other default-ignorable characters", () => {
  for (
    const invisible of ["\u115f", "\u1160", "\u3164", "\uffa0", "\u034f", "\u2065", "\u{e0001}"]
  ) {
    assertInvalid(`bo${invisible}b`, /invisible|format/);
  }
  // A nickname made of a filler alone would be an invisible name.
  assertInvalid("\u3164", /invisible/);
});

Deno.test("refuses line and paragraph separators inside a nickname", () => {
  assertInvalid("ali\u2028ce", /separator/);
  assertInvalid("ali\u2029ce", /separator/);
  assertInvalid("a\u2028b\u2028c", /separator/);
});

Deno.test("still accepts names in other scripts and emoji without a variation selector", () => {
  for (const name of ["Дмитрий", "李小龍", "مريم", "Ζωή", "❤", "😀🎉", "Björk", "Ólafur"]) {
    assertValid(name);
  }
});

Deno.test("nicknameKey makes fullwidth, Cyrillic and mathematical look-alikes the same nickname", () => {
  const alice = nicknameKey("alice");
  for (
    const lookalike of [
      "\uff41lice", // fullwidth ａ
      "\u0430lice", // Cyrillic а
      "\u{1d41a}lice", // mathematical bold 𝐚
      "alic\u0435", // Cyrillic е
      "\uff21\uff2c\uff29\uff23\uff25", // fullwidth ＡＬＩＣＥ
      "ALICE",
      "\u{1d41a}\u{1d425}\u{1d422}\u{1d41c}\u{1d41e}", // 𝐚𝐥𝐢𝐜𝐞
    ]
  ) {
    assert.equal(nicknameKey(lookalike), alice, JSON.stringify(lookalike));
  }
  assert.equal(nicknameKey("b0b"), nicknameKey("bob"));
  assert.equal(nicknameKey("rn"), nicknameKey("m"));
  assert.equal(nicknameKey("Ра\u0443\u0420а1"), nicknameKey("paypal"));
});

Deno.test("nicknameKey ignores invisible characters a server might still send in a from", () => {
  const alice = nicknameKey("alice");
  for (const invisible of ["\ufe00", "\u{e0100}", "\u180b", "\u17b4", "\u200b", "\u3164"]) {
    assert.equal(nicknameKey(`alice${invisible}`), alice, JSON.stringify(invisible));
  }
});

Deno.test("nicknameKey is its own key: applying it again changes nothing", () => {
  const names = ["Bob", "straße", "ΣΟΦΙΑ", "𝐌ike", "ǅemal", "ℇ", "Ame\u0301lie", "🄜", "ＡＬＩＣＥ"];
  for (const name of names) {
    const key = nicknameKey(name);
    assert.equal(nicknameKey(key), key, JSON.stringify(name));
  }
  for (let code = 0; code < 0x20000; code++) {
    if (code >= 0xd800 && code <= 0xdfff) continue;
    const key = nicknameKey(String.fromCodePoint(code));
    if (nicknameKey(key) !== key) assert.fail(`U+${code.toString(16)}: ${JSON.stringify(key)}`);
  }
});

Deno.test("nicknameKey gives an ASCII name the key it has inside a longer, non-ASCII name", () => {
  // Printable ASCII names take a table-driven fast path; a CJK character (its own key)
  // after the name sends the same characters down the general path.
  for (let a = 0; a < 0x80; a++) {
    for (let b = 0; b < 0x80; b++) {
      const name = String.fromCharCode(a, b);
      assert.equal(nicknameKey(name) + "李", nicknameKey(`${name}李`), JSON.stringify(name));
    }
  }
});
