// Typed errors of the metadata service. The mount treats every one of them as
// "no sidecars for now"; som get/upload report them.

export class MetadataError extends Error {
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = new.target.name;
  }
}

/** Worth retrying: unreachable, overloaded, deadline passed, transaction contention. */
export class MetadataUnavailableError extends MetadataError {}
export class MetadataPermissionError extends MetadataError {}
