import type { Directory } from "../../src/namespace/directory.js";

/** A directory's child names, in listing order. */
export const names = (d: Directory): string[] => [...d.entries()].map(([n]) => n);
