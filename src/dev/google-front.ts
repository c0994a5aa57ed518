// What stands where Google's endpoints would, for tests of the path to
// Google: one HTTP(S) server that routes by Host — storage.googleapis.com to
// the GCS emulator, datastore.googleapis.com to the Datastore emulator,
// oauth2.googleapis.com to the OAuth stand-in — and, like Google, refuses a
// request without a valid bearer token (401) or one for a denied path (403).
// It records every request it sees, token included, so a test can check
// what was sent. Loopback only.
import { createServer as createHttp, request, type IncomingMessage, type Server, type ServerResponse } from "node:http";
import { createServer as createHttps } from "node:https";
import type { AddressInfo } from "node:net";
import type { OAuthFake } from "./oauth-fake.js";

export interface FrontOptions {
  host: string;
  port: number;
  /** With a certificate: HTTPS. */
  tls?: { key: string; cert: string };
  /** http://host:port of the GCS emulator. */
  storage: string;
  /** host:port of the Datastore emulator, if any. */
  datastore?: string;
  oauth: OAuthFake;
}

export interface SeenRequest {
  host: string;
  method: string;
  path: string;
  /** The bearer token sent, if any. */
  token?: string;
  status: number;
}

export class GoogleFront {
  readonly seen: SeenRequest[] = [];
  /** Requests whose path matches one of these get 403. */
  readonly denied: RegExp[] = [];

  private constructor(private readonly server: Server, private readonly opts: FrontOptions) {}

  static async start(opts: FrontOptions): Promise<GoogleFront> {
    let front: GoogleFront | undefined;
    const handler = (req: IncomingMessage, res: ServerResponse): void => void front!.handle(req, res);
    const server = opts.tls ? createHttps({ key: opts.tls.key, cert: opts.tls.cert }, handler) : createHttp(handler);
    front = new GoogleFront(server, opts);
    await new Promise<void>((resolve, reject) => {
      server.once("error", reject);
      server.listen(opts.port, opts.host, () => resolve());
    });
    return front;
  }

  get port(): number {
    return (this.server.address() as AddressInfo).port;
  }

  async close(): Promise<void> {
    this.server.closeAllConnections();
    await new Promise((r) => this.server.close(r));
  }

  private async handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const host = (req.headers.host ?? "").replace(/:\d+$/, "");
    const path = req.url ?? "/";
    const auth = /^Bearer (.+)$/.exec(req.headers.authorization ?? "")?.[1];
    const record = (status: number): void => {
      this.seen.push({ host, method: req.method ?? "GET", path, ...(auth ? { token: auth } : {}), status });
    };
    if (host.startsWith("oauth2.")) {
      record(200);
      return this.opts.oauth.handle(req, res);
    }
    const refuse = (status: number, message: string): void => {
      record(status);
      req.resume();
      res.writeHead(status, { "content-type": "application/json", ...(status === 401 ? { "www-authenticate": "Bearer" } : {}) });
      res.end(JSON.stringify({ error: { code: status, message, errors: [{ message, reason: status === 401 ? "required" : "forbidden" }] } }));
    };
    if (!this.opts.oauth.isValid(auth)) return refuse(401, "Anonymous caller does not have access, or the credential is invalid or expired.");
    if (this.denied.some((r) => r.test(path))) return refuse(403, "The caller does not have storage.objects.get access to the object.");
    const toDatastore = host.startsWith("datastore.");
    const upstream = toDatastore ? `http://${this.opts.datastore}` : this.opts.storage;
    const u = new URL(upstream);
    const headers = { ...req.headers, host: u.host };
    delete headers.authorization; // the emulators take none
    const up = request({ hostname: u.hostname, port: u.port, method: req.method, path, headers }, (upRes) => {
      record(upRes.statusCode ?? 502);
      res.writeHead(upRes.statusCode ?? 502, upRes.headers);
      upRes.pipe(res);
    });
    up.on("error", () => {
      record(502);
      if (!res.headersSent) res.writeHead(502);
      res.end();
    });
    req.pipe(up);
  }
}
