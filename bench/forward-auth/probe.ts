export interface ProbeUrls {
  forwardAuth: string;
  floor: string;
  plain: string;
  authed: string;
}

async function get(url: string, headers: Record<string, string> = {}) {
  const res = await fetch(url, { headers, signal: AbortSignal.timeout(5_000) });
  return { status: res.status, headers: res.headers, body: await res.text() };
}

function expectStatus(what: string, got: { status: number; body: string }, status: number): void {
  if (got.status !== status) {
    throw new Error(`probe: ${what} answered ${got.status}, not ${status}: ${got.body.slice(0, 300)}`);
  }
}

/**
 * Before any load, that each target does what its figure claims: the endpoint allows the key and
 * refuses its absence; through nginx with auth_request the key's identity reaches the backend and a
 * request without a key does not; without auth_request the backend sees no identity.
 */
export async function probeTargets(urls: ProbeUrls, key: string): Promise<void> {
  const bearer = { authorization: `Bearer ${key}` };
  const allowed = await get(urls.forwardAuth, bearer);
  expectStatus("forward-auth with the key", allowed, 200);
  if (!allowed.headers.get("x-api-key-id"))
    throw new Error("probe: forward-auth allowed without X-Api-Key-Id");
  expectStatus("forward-auth without a key", await get(urls.forwardAuth), 401);
  expectStatus("the nginx floor", await get(urls.floor), 200);

  const through = await get(urls.authed, bearer);
  expectStatus("nginx with auth_request, with the key", through, 200);
  const identity = JSON.parse(through.body) as { user_id?: unknown; api_key_id?: unknown };
  if (typeof identity.user_id !== "string" || identity.api_key_id !== allowed.headers.get("x-api-key-id")) {
    throw new Error(`probe: the key's identity did not reach the backend through nginx: ${through.body}`);
  }
  expectStatus("nginx with auth_request, without a key", await get(urls.authed), 401);
  const plain = await get(urls.plain);
  expectStatus("nginx without auth", plain, 200);
  if ((JSON.parse(plain.body) as { user_id?: unknown }).user_id !== null) {
    throw new Error(`probe: the backend saw an identity without auth: ${plain.body}`);
  }
}
