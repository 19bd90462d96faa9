// The management API, same origin. The credential lives in sessionStorage only: closing the tab forgets it.

const TOKEN_KEY = "gateway-console-token";
/** Dispatched on window when the API refuses the signed-in credential. */
export const SIGNED_OUT = "gateway-console-signed-out";

export const session = {
  token: (): string | null => sessionStorage.getItem(TOKEN_KEY),
  save: (token: string) => sessionStorage.setItem(TOKEN_KEY, token),
  clear: () => sessionStorage.removeItem(TOKEN_KEY),
};

/** An RFC 9457 problem the API answered, or a network failure (status 0). */
export class ApiError extends Error {
  constructor(
    readonly status: number,
    message: string,
    readonly fields: { field: string; message: string }[] = [],
  ) {
    super(message);
  }
}

export type Query = Record<string, string | number | undefined | null>;

export function withQuery(path: string, query: Query = {}): string {
  const params = new URLSearchParams();
  for (const [name, value] of Object.entries(query)) {
    if (value !== undefined && value !== null && value !== "") params.set(name, String(value));
  }
  const text = params.toString();
  return text ? `${path}?${text}` : path;
}

/** One call; `token` overrides the signed-in credential (sign-in tries one before saving it). */
export async function call<T>(
  method: string,
  path: string,
  options: { query?: Query; body?: unknown; token?: string } = {},
): Promise<T> {
  const token = options.token ?? session.token();
  const headers: Record<string, string> = { accept: "application/json" };
  if (token) headers.authorization = `Bearer ${token}`;
  if (options.body !== undefined) headers["content-type"] = "application/json";
  let res: Response;
  try {
    res = await fetch(withQuery(path, options.query), {
      method,
      headers,
      body: options.body === undefined ? null : JSON.stringify(options.body),
      credentials: "omit",
    });
  } catch {
    throw new ApiError(0, "The API could not be reached.");
  }
  const text = await res.text();
  const body = text ? safeJson(text) : null;
  if (res.status === 401 && options.token === undefined) {
    // The signed-in credential was revoked or expired meanwhile: the console signs out.
    session.clear();
    dispatchEvent(new Event(SIGNED_OUT));
  }
  if (!res.ok) {
    const problem = (body ?? {}) as { detail?: string; errors?: { field: string; message: string }[] };
    throw new ApiError(res.status, problem.detail ?? `HTTP ${res.status}`, problem.errors ?? []);
  }
  return body as T;
}

function safeJson(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    return null;
  }
}

export const describeError = (error: unknown): string => {
  if (!(error instanceof ApiError)) return String(error);
  const fields = error.fields.map((f) => `${f.field}: ${f.message}`).join("; ");
  return fields ? `${error.message} (${fields})` : error.message;
};
