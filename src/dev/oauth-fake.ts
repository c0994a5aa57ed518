// A stand-in for Google's OAuth 2.0 token endpoint, for tests of the path
// to Google: it makes a service-account key (Application Default
// Credentials read it from GOOGLE_APPLICATION_CREDENTIALS), checks the
// signed JWT that google-auth-library sends with the jwt-bearer grant, and
// issues short opaque access tokens it can later vouch for or revoke.
import { createVerify, generateKeyPairSync, randomBytes } from "node:crypto";
import { createServer, type IncomingMessage, type Server, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";

interface Issued {
  token: string;
  expires: number;
  revoked: boolean;
}

export class OAuthFake {
  readonly clientEmail = "som-test@som-test.iam.gserviceaccount.com";
  private readonly keys = generateKeyPairSync("rsa", { modulusLength: 2048 });
  private readonly issued: Issued[] = [];
  /** Token requests refused (bad JWT), for tests. */
  refused = 0;
  private server?: Server;

  /** @param expiresInSeconds what each token says about its lifetime (google-auth-library refreshes 5 min before). */
  constructor(private readonly expiresInSeconds = 3600) {}

  /** Serves the token endpoint itself on 127.0.0.1 (tests without the TLS front). */
  async listen(): Promise<string> {
    const server = createServer((req, res) => void this.handle(req, res));
    this.server = server;
    await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
    return `http://127.0.0.1:${(server.address() as AddressInfo).port}/token`;
  }

  async close(): Promise<void> {
    const s = this.server;
    if (!s) return;
    s.closeAllConnections();
    await new Promise((r) => s.close(r));
  }

  /** A service-account key file's contents naming `tokenUri`. */
  serviceAccountKey(tokenUri: string): Record<string, string> {
    return {
      type: "service_account", project_id: "som-test", private_key_id: "test-key-1",
      private_key: this.keys.privateKey.export({ type: "pkcs8", format: "pem" }).toString(),
      client_email: this.clientEmail, client_id: "1", token_uri: tokenUri,
      auth_uri: "https://accounts.google.com/o/oauth2/auth", universe_domain: "googleapis.com",
    };
  }

  /** Tokens issued, oldest first. */
  get tokens(): string[] {
    return this.issued.map((i) => i.token);
  }

  isValid(token: string | undefined): boolean {
    const i = this.issued.find((x) => x.token === token);
    return i !== undefined && !i.revoked && Date.now() < i.expires;
  }

  revoke(token: string): void {
    const i = this.issued.find((x) => x.token === token);
    if (i) i.revoked = true;
  }

  async handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const chunks: Buffer[] = [];
    for await (const c of req) chunks.push(c as Buffer);
    const form = new URLSearchParams(Buffer.concat(chunks).toString("utf8"));
    const reply = (status: number, body: unknown): void => {
      res.writeHead(status, { "content-type": "application/json" });
      res.end(JSON.stringify(body));
    };
    if (req.method !== "POST" || form.get("grant_type") !== "urn:ietf:params:oauth:grant-type:jwt-bearer") {
      this.refused++;
      return reply(400, { error: "unsupported_grant_type" });
    }
    if (!this.verify(form.get("assertion") ?? "")) {
      this.refused++;
      return reply(400, { error: "invalid_grant", error_description: "Invalid JWT Signature." });
    }
    const token = `ya29.test-${this.issued.length + 1}-${randomBytes(6).toString("hex")}`;
    this.issued.push({ token, expires: Date.now() + this.expiresInSeconds * 1000, revoked: false });
    reply(200, { access_token: token, expires_in: this.expiresInSeconds, token_type: "Bearer" });
  }

  /** An RS256 JWT signed by the key, issued by its account, not expired. */
  private verify(jwt: string): boolean {
    const [h, p, sig] = jwt.split(".");
    if (!h || !p || !sig) return false;
    const ok = createVerify("RSA-SHA256").update(`${h}.${p}`).verify(this.keys.publicKey, Buffer.from(sig, "base64url"));
    if (!ok) return false;
    const claims = JSON.parse(Buffer.from(p, "base64url").toString("utf8")) as { iss?: string; exp?: number };
    return claims.iss === this.clientEmail && typeof claims.exp === "number" && claims.exp * 1000 > Date.now();
  }
}
