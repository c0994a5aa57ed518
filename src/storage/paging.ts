import type { ListOptions, ObjectInfo, ObjectStore } from "./object-store.js";

/** Follows nextPageToken to the end. */
export async function listAll(store: ObjectStore, opts: ListOptions): Promise<{ objects: ObjectInfo[]; prefixes: string[] }> {
  const objects: ObjectInfo[] = [];
  const prefixes: string[] = [];
  let pageToken: string | undefined;
  do {
    const page = await store.list(pageToken ? { ...opts, pageToken } : opts);
    objects.push(...page.objects);
    prefixes.push(...page.prefixes);
    pageToken = page.nextPageToken;
  } while (pageToken);
  return { objects, prefixes };
}
