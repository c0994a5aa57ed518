// OAuth access tokens for requests to Google (or anything that wants them:
// a private endpoint behind Private Service Connect or a proxy). Credentials
// are Application Default Credentials, through google-auth-library, loaded
// only when first needed. They are sent everywhere except with --anonymous
// or to an emulator named by its environment variable
// (STORAGE_EMULATOR_HOST, DATASTORE_EMULATOR_HOST), as the Google tools do.
//
// A token is never logged: it only ever goes into an Authorization header.

/** Supplies the bearer token for a request. */
export interface TokenSource {
  /** The token to send, or undefined to send none. Throws CredentialsError when there are no credentials. */
  token(): Promise<string | undefined>;
  /**
   * After a 401 for `refused`: drops that token if it is still the cached
   * one (requests in flight with it all get 401; one new token serves them
   * all), so the next token() fetches a new one. False when there is
   * nothing to refresh (no credentials in use).
   */
  refresh(refused: string | undefined): Promise<boolean>;
}

/** Credentials could not be found or used; `transient` when the token service itself was briefly unavailable. */
export class CredentialsError extends Error {
  constructor(message: string, readonly transient: boolean, options?: { cause?: unknown }) {
    super(message, options);
    this.name = "CredentialsError";
  }
}

const TRANSIENT_CODES = new Set(["ECONNRESET", "ETIMEDOUT", "ECONNREFUSED", "EAI_AGAIN", "EPIPE", "ECONNABORTED", "UND_ERR_SOCKET"]);

/** Whether a token fetch failed in a way worth retrying: the network, or the token service's 5xx/429. */
function isTransient(err: unknown): boolean {
  const e = err as { code?: unknown; status?: unknown; response?: { status?: unknown }; cause?: unknown };
  const status = typeof e?.status === "number" ? e.status : typeof e?.response?.status === "number" ? e.response.status : undefined;
  if (status !== undefined) return status === 429 || status >= 500;
  if (typeof e?.code === "string" && TRANSIENT_CODES.has(e.code)) return true;
  return e?.cause !== undefined && e.cause !== err && isTransient(e.cause);
}

export const noCredentials: TokenSource = {
  token: () => Promise.resolve(undefined),
  refresh: (_refused: string | undefined) => Promise.resolve(false),
};

export const READ_ONLY_STORAGE = "https://www.googleapis.com/auth/devstorage.read_only";
export const READ_WRITE_STORAGE = "https://www.googleapis.com/auth/devstorage.read_write";
export const DATASTORE = "https://www.googleapis.com/auth/datastore";

interface AccessTokenClient {
  getAccessToken(): Promise<{ token?: string | null }>;
  credentials: { access_token?: string | null; expiry_date?: number | null };
}

/** Application Default Credentials: GOOGLE_APPLICATION_CREDENTIALS, gcloud's ADC file, or the metadata server. */
export class AdcTokens implements TokenSource {
  private client: Promise<AccessTokenClient> | undefined;

  constructor(private readonly scopes: string[]) {}

  private getClient(): Promise<AccessTokenClient> {
    this.client ??= import("google-auth-library")
      .then(({ GoogleAuth }) => new GoogleAuth({ scopes: this.scopes }).getClient() as Promise<unknown> as Promise<AccessTokenClient>)
      .catch((err: unknown) => {
        this.client = undefined; // a later call may find them (e.g. the metadata server came up)
        throw new CredentialsError(`no Google credentials (set GOOGLE_APPLICATION_CREDENTIALS, run "gcloud auth application-default login", or use --anonymous for a public bucket): ${err instanceof Error ? err.message : String(err)}`, false, { cause: err });
      });
    return this.client;
  }

  async token(): Promise<string | undefined> {
    const client = await this.getClient();
    try {
      return (await client.getAccessToken()).token ?? undefined;
    } catch (err) {
      throw new CredentialsError(`could not get an access token: ${err instanceof Error ? err.message : String(err)}`, isTransient(err), { cause: err });
    }
  }

  async refresh(refused: string | undefined): Promise<boolean> {
    const client = await this.getClient();
    // Marked expired: the next getAccessToken() asks for a new one.
    if (refused === undefined || client.credentials.access_token === refused) client.credentials.expiry_date = 1;
    return true;
  }
}
