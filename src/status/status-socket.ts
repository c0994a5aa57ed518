// Each mount daemon answers `som status` on a unix socket of its own, in a
// directory only its user can enter: /run/som for root, else
// $XDG_RUNTIME_DIR/som, else /tmp/som-<uid>. GET /status returns the
// mount's MountStatus as JSON. A socket whose daemon has died is removed by
// the next `som status`.
import { mkdirSync, unlinkSync } from "node:fs";
import { lstat, readdir, unlink } from "node:fs/promises";
import { createServer, request } from "node:http";
import { join } from "node:path";
import type { MountStatus } from "../metrics/snapshot.js";
import { closeServer } from "../metrics/server.js";

export function statusDir(): string {
  if (process.env.SOM_RUNTIME_DIR) return process.env.SOM_RUNTIME_DIR;
  const uid = process.getuid?.() ?? 0;
  if (uid === 0) return "/run/som";
  return process.env.XDG_RUNTIME_DIR ? join(process.env.XDG_RUNTIME_DIR, "som") : `/tmp/som-${uid}`;
}

export interface StatusSocket {
  readonly path: string;
  close(): Promise<void>;
}

export async function serveStatus(status: () => Promise<MountStatus>, dir = statusDir()): Promise<StatusSocket> {
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  // /tmp is shared: a directory someone else made there is not ours to use.
  const st = await lstat(dir);
  if (!st.isDirectory() || st.uid !== (process.getuid?.() ?? 0)) throw new Error(`${dir} is not a directory of this user`);
  const path = join(dir, `${process.pid}.sock`);
  try {
    unlinkSync(path); // a previous daemon with this pid, long gone
  } catch {
    // none
  }
  const server = createServer((req, res) => {
    if (req.method !== "GET" || req.url !== "/status") {
      res.writeHead(404).end();
      return;
    }
    status().then(
      (s) => res.writeHead(200, { "content-type": "application/json" }).end(JSON.stringify(s)),
      (err: unknown) => res.writeHead(500).end(String(err)),
    );
  });
  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen(path, () => resolve());
  });
  return {
    path,
    close: async () => {
      await closeServer(server);
      await unlink(path).catch(() => undefined);
    },
  };
}

function ask(socketPath: string, timeoutMs: number): Promise<MountStatus> {
  return new Promise((resolve, reject) => {
    const req = request({ socketPath, path: "/status", method: "GET", timeout: timeoutMs }, (res) => {
      const parts: Buffer[] = [];
      res.on("data", (c: Buffer) => parts.push(c));
      res.on("end", () => {
        if (res.statusCode !== 200) return reject(new Error(`HTTP ${res.statusCode}`));
        try {
          resolve(JSON.parse(Buffer.concat(parts).toString("utf8")) as MountStatus);
        } catch (err) {
          reject(err instanceof Error ? err : new Error(String(err)));
        }
      });
      res.on("error", reject);
    });
    req.on("timeout", () => req.destroy(new Error(`no answer in ${timeoutMs} ms`)));
    req.on("error", reject);
    req.end();
  });
}

const alive = (pid: number): boolean => {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === "EPERM";
  }
};

export interface Unanswered {
  pid: number;
  error: string;
}

/** Every daemon's status; those alive but not answering are reported, dead ones' sockets removed. */
export async function readStatuses(dir = statusDir(), timeoutMs = 3_000): Promise<{ mounts: MountStatus[]; unanswered: Unanswered[] }> {
  const names = await readdir(dir).catch(() => [] as string[]);
  const mounts: MountStatus[] = [];
  const unanswered: Unanswered[] = [];
  await Promise.all(names.filter((n) => /^\d+\.sock$/.test(n)).map(async (n) => {
    const pid = Number(n.slice(0, -5));
    const path = join(dir, n);
    try {
      mounts.push(await ask(path, timeoutMs));
    } catch (err) {
      if (!alive(pid)) await unlink(path).catch(() => undefined);
      else unanswered.push({ pid, error: err instanceof Error ? err.message : String(err) });
    }
  }));
  mounts.sort((a, b) => a.mountpoint.localeCompare(b.mountpoint));
  return { mounts, unanswered };
}
