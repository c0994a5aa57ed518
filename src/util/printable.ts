// Text from outside (object names from a bucket, paths from local users,
// error messages that quote them) can carry terminal control sequences.
// Anything shown on a terminal or written to a log goes through printable().

// C0 controls, DEL, C1 controls (0x9b is a one-byte CSI), and the bidi
// controls that can make a line read differently from what it holds.
// eslint-disable-next-line no-control-regex
const UNPRINTABLE = /[\x00-\x1f\x7f-\x9f\u200e\u200f\u202a-\u202e\u2066-\u2069]/g;

/** The text with control characters escaped as \uXXXX. */
export function printable(text: string): string {
  return text.replace(UNPRINTABLE, (ch) => `\\u${ch.charCodeAt(0).toString(16).padStart(4, "0")}`);
}
