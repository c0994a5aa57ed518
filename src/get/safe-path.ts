// Object names are chosen by whoever wrote the bucket. Before one becomes a
// local path it must stay inside the output folder: no "..", no absolute or
// empty parts, no control characters, nothing a file name can't be.

/** Why a relative object path can't be written under the output folder, or undefined if it can. */
export function unsafePathReason(rel: string): string | undefined {
  if (rel.length === 0) return "it is empty";
  if (rel.startsWith("/")) return "it is an absolute path";
  // eslint-disable-next-line no-control-regex
  if (/[\x00-\x1f\x7f]/.test(rel)) return "it contains control characters";
  for (const part of rel.split("/")) {
    if (part === "") return "it has an empty path part (//)";
    if (part === "." || part === "..") return `it has a "${part}" part`;
    if (Buffer.byteLength(part) > 255) return "a part is longer than 255 bytes";
  }
  return undefined;
}
