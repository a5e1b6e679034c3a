// Nicknames and messages a hostile server or user might send to take over
// a terminal: escape sequences (colours, cursor moves, screen clears, window
// titles, OSC 8 links), C1 controls, carriage returns that overwrite a line,
// backspaces, bells, DEL, bidi overrides that reverse text, zero-width and
// invisible characters that make two nicknames look alike, lone surrogates.

/** Nicknames that must never reach the terminal raw. */
export const HOSTILE_NICKNAMES: readonly string[] = [
  "\x1b[31mred",
  "bob\u202e",
  "\u202eboB",
  "al\u200bice",
  "alice\u2060",
  "\ufeffcarol",
  "dave\x08\x08\x08\x08eve",
  "root\r",
  "\x9b2J",
  "\x07bell",
  "del\x7f",
  "\u2066isolate\u2069",
  "\u200e\u200fmarks",
  "\u3164",
  "tag\u{e0041}",
  "line\u2028sep",
  "\ud800lone",
  "\x1b]0;title\x07",
];

/** Messages that must never reach the terminal raw (newlines are legitimate line breaks). */
export const HOSTILE_MESSAGES: readonly string[] = [
  "\x1b[31mred text\x1b[0m",
  "\x1b[2J\x1b[Hcleared screen",
  "\x1b[1A\x1b[2Kerased the line above",
  "overwrite\rFAKE <admin> hello",
  "\x1b]8;;https://evil.example\x1b\\click\x1b]8;;\x1b\\",
  "\x1b]52;c;ZXZpbA==\x07clipboard",
  "\x1bP+q544e\x1b\\device control",
  "\u202etxt.exe",
  "zero\u200bwidth\u200cjoin\u200djoiner",
  "bell\x07\x07\x07",
  "back\x08\x08\x08\x08space",
  "\x85next line C1",
  "\x9b31mC1 CSI",
  "tab\there",
  "null\x00byte",
  "multi\n\x1b[31mline\n\u202eend",
  "paragraph\u2029separator",
  "\ud83d lone high surrogate",
];

/**
 * Code points beyond the obvious controls that render as nothing or change
 * how text reads, named: none may reach a terminal or the server log raw.
 */
export const INVISIBLE: readonly [string, number][] = [
  ["soft hyphen", 0x00ad],
  ["combining grapheme joiner", 0x034f],
  ["Arabic letter mark", 0x061c],
  ["Hangul choseong filler", 0x115f],
  ["Hangul jungseong filler", 0x1160],
  ["Khmer inherent vowel", 0x17b4],
  ["Mongolian vowel separator", 0x180e],
  ["zero-width space", 0x200b],
  ["left-to-right mark", 0x200e],
  ["line separator", 0x2028],
  ["paragraph separator", 0x2029],
  ["right-to-left override", 0x202e],
  ["word joiner", 0x2060],
  ["unassigned default-ignorable", 0x2065],
  ...[0x206a, 0x206b, 0x206c, 0x206d, 0x206e, 0x206f].map((c): [string, number] => [
    "deprecated format character",
    c,
  ]),
  ["Hangul filler", 0x3164],
  ["byte order mark", 0xfeff],
  ["halfwidth Hangul filler", 0xffa0],
  ["reserved default-ignorable", 0xfff0],
  ["interlinear annotation anchor", 0xfff9],
  ["interlinear annotation separator", 0xfffa],
  ["interlinear annotation terminator", 0xfffb],
  ["shorthand format letter overlap", 0x1bca0],
  ["language tag", 0xe0001],
  ["tag letter A", 0xe0041],
  ["cancel tag", 0xe007f],
  ["reserved tag-block code point", 0xe0fff],
];

/** Any raw character that must not reach the terminal (colour codes included: NO_COLOR is set). */
export const RAW_UNSAFE =
  // deno-lint-ignore no-control-regex -- matching raw control characters is the point.
  /[\x00-\x09\x0b-\x1f\x7f-\x9f\u200b-\u200f\u202a-\u202e\u2060\u2066-\u2069\ufeff\u2028\u2029\u3164]|[\ud800-\udfff]/u;

/** The SGR codes styleText adds for our colours (dim, yellow, the nickname palette) and their resets. */
export const OUR_COLOR_CODES =
  // deno-lint-ignore no-control-regex -- these are the escape sequences we emit.
  /\x1b\[(?:2|22|33|39|3[1-6]|9[1-6])m/g;
