/** GCS bucket naming rules; undefined when valid, else the reason. */
export function bucketNameProblem(name: string): string | undefined {
  if (!/^[a-z0-9][a-z0-9._-]*[a-z0-9]$/.test(name)) {
    return "use lowercase letters, digits, '-', '_' and '.', starting and ending with a letter or digit";
  }
  const max = name.includes(".") ? 222 : 63;
  if (name.length < 3 || name.length > max) return `must be 3-${max} characters long`;
  if (name.includes(".") && name.split(".").some((c) => c.length === 0 || c.length > 63)) return "each dot-separated part must be 1-63 characters";
  if (/^\d+\.\d+\.\d+\.\d+$/.test(name)) return "must not look like an IP address";
  if (name.startsWith("goog") || /g[o0]{2}gle/.test(name)) return `must not start with "goog" or contain "google"`;
  return undefined;
}
