import { type AddressInfo, createServer } from "node:net";
import { type StripeEmulator, startStripeEmulator, test as withServices } from "@gateway/testing";
import Stripe from "stripe";
import { type Api, describe, expect, startApi } from "./fixtures.js";

// With STRIPE_API_KEY set, a Stripe customer id is checked against Stripe (here the emulator, through
// the official SDK) before it is stored: unknown or deleted → 422, Stripe unanswerable → 503.

/** A port on 127.0.0.1 that nothing listens on, for a STRIPE_API_BASE that reaches nothing. */
function closedPort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once("error", reject);
    server.listen(0, "127.0.0.1", () => {
      const { port } = server.address() as AddressInfo;
      server.close(() => resolve(port));
    });
  });
}

interface Fixtures {
  stripe: StripeEmulator;
  sdk: Stripe;
  api: Api;
}

const test = withServices.extend<Fixtures>({
  // biome-ignore lint/correctness/noEmptyPattern: vitest fixtures must destructure their first argument
  stripe: async ({}, use) => {
    const emulator = await startStripeEmulator();
    try {
      await use(emulator);
    } finally {
      // A test may have stopped it already, to play Stripe being away.
      await emulator.close().catch(() => {});
    }
  },
  sdk: async ({ stripe }, use) => {
    await use(new Stripe(stripe.apiKey, { ...stripe.sdkConfig, maxNetworkRetries: 0, telemetry: false }));
  },
  api: async ({ services, stripe }, use) => {
    const api = await startApi(services, {
      STRIPE_API_KEY: stripe.apiKey,
      STRIPE_API_BASE: stripe.url,
      STRIPE_TIMEOUT: "500ms",
    });
    try {
      await use(api);
    } finally {
      await api.stop();
    }
  },
});

const lookups = (stripe: StripeEmulator) => stripe.requests({ method: "GET", path: /^\/v1\/customers\// });

async function deletedCustomer(sdk: Stripe): Promise<string> {
  const { id } = await sdk.customers.create({});
  await sdk.customers.del(id);
  return id;
}

function expectUnprocessable(res: { status: number; body: any }, message: RegExp) {
  expect(res.status).toBe(422);
  expect(res.body).toMatchObject({ status: 422, code: "UNPROCESSABLE", title: "Unprocessable content" });
  expect(res.body.errors).toEqual([{ field: "stripe_customer_id", message: expect.stringMatching(message) }]);
}

describe("PUT /api/users/:user_id with STRIPE_API_KEY", () => {
  test("a customer that exists is stored", async ({ api, sdk }) => {
    const { id } = await sdk.customers.create({ name: "Acme" });

    const res = await api.request("PUT", "/api/users/acme", { body: { stripe_customer_id: id } });

    expect(res.status).toBe(200);
    expect(res.body.stripe_customer_id).toBe(id);
    expect((await api.request("GET", "/api/users/acme")).body.stripe_customer_id).toBe(id);
  });

  test("an unknown customer is 422 naming the field, and nothing is stored", async ({ api, sdk }) => {
    const { id } = await sdk.customers.create({});
    await api.request("PUT", "/api/users/acme", { body: { stripe_customer_id: id } });
    const before = await api.rowCounts();

    const res = await api.request("PUT", "/api/users/acme", {
      body: { stripe_customer_id: "cus_Typo123", plan_id: null },
    });

    expectUnprocessable(res, /names no customer/);
    expect(res.body.detail).toContain("stripe_customer_id");
    expect(await api.rowCounts()).toEqual(before);
    expect((await api.request("GET", "/api/users/acme")).body.stripe_customer_id).toBe(id);
  });

  test("an unknown customer does not create the user", async ({ api }) => {
    const before = await api.rowCounts();

    const res = await api.request("PUT", "/api/users/newcomer", {
      body: { stripe_customer_id: "cus_Nobody1" },
    });

    expectUnprocessable(res, /names no customer/);
    expect(await api.rowCounts()).toEqual(before);
  });

  test("a deleted customer is 422", async ({ api, sdk }) => {
    const res = await api.request("PUT", "/api/users/acme", {
      body: { stripe_customer_id: await deletedCustomer(sdk) },
    });

    expectUnprocessable(res, /deleted/);
  });

  test("clearing with null, or giving the customer the user already has, asks Stripe nothing", async ({
    api,
    sdk,
    stripe,
  }) => {
    const { id } = await sdk.customers.create({});
    await api.request("PUT", "/api/users/acme", { body: { stripe_customer_id: id } });
    const asked = lookups(stripe).length;

    const same = await api.request("PUT", "/api/users/acme", { body: { stripe_customer_id: id } });
    const cleared = await api.request("PUT", "/api/users/acme", { body: { stripe_customer_id: null } });

    expect([same.status, cleared.status]).toEqual([200, 200]);
    expect(cleared.body.stripe_customer_id).toBeNull();
    expect(lookups(stripe)).toHaveLength(asked);
  });

  test("a malformed id is still a 400 from the format check, before Stripe is asked", async ({
    api,
    stripe,
  }) => {
    const res = await api.request("PUT", "/api/users/acme", { body: { stripe_customer_id: "acme" } });

    expect(res.status).toBe(400);
    expect(lookups(stripe)).toHaveLength(0);
  });
});

describe("a key's own stripe_customer_id with STRIPE_API_KEY", () => {
  test("POST /api/keys: an existing customer is stored; unknown or deleted is 422 and no key is made", async ({
    api,
    sdk,
  }) => {
    const { id } = await sdk.customers.create({});
    const created = await api.createKey({ stripe_customer_id: id });
    expect(created.stripe_customer_id).toBe(id);
    const before = await api.rowCounts();

    const unknown = await api.request("POST", "/api/keys", {
      body: { user_id: "user_1", name: "k", stripe_customer_id: "cus_Typo123" },
    });
    const deleted = await api.request("POST", "/api/keys", {
      body: { user_id: "user_1", name: "k", stripe_customer_id: await deletedCustomer(sdk) },
    });

    expectUnprocessable(unknown, /names no customer/);
    expectUnprocessable(deleted, /deleted/);
    expect(await api.rowCounts()).toEqual(before);
  });

  test("PATCH /api/keys/by-id/:id: unknown or deleted is 422 and the key is unchanged", async ({
    api,
    sdk,
  }) => {
    const { id: customer } = await sdk.customers.create({});
    const key = await api.createKey();
    const before = await api.rowCounts();

    const unknown = await api.request("PATCH", `/api/keys/by-id/${key.id}`, {
      body: { name: "renamed", stripe_customer_id: "cus_Typo123" },
    });
    const deleted = await api.request("PATCH", `/api/keys/by-id/${key.id}`, {
      body: { stripe_customer_id: await deletedCustomer(sdk) },
    });

    expectUnprocessable(unknown, /names no customer/);
    expectUnprocessable(deleted, /deleted/);
    expect(await api.rowCounts()).toEqual(before);
    expect((await api.request("GET", `/api/keys/by-id/${key.id}`)).body).toMatchObject({
      name: "test key",
      stripe_customer_id: null,
    });
    const ok = await api.request("PATCH", `/api/keys/by-id/${key.id}`, {
      body: { stripe_customer_id: customer },
    });
    expect(ok.status).toBe(200);
    expect(ok.body.stripe_customer_id).toBe(customer);
  });

  test("an unknown, foreign or revoked key keeps its 404 or 409 and Stripe is not asked", async ({
    api,
    stripe,
  }) => {
    const key = await api.createKey({ user_id: "owner" });
    const body = { stripe_customer_id: "cus_Typo123" };

    const foreign = await api.request("PATCH", `/api/keys/by-id/${key.id}?user_id=other`, { body });
    const unknown = await api.request("PATCH", "/api/keys/by-id/key_0000000000000000000000", { body });
    await api.request("DELETE", `/api/keys/${key.id}`);
    const revoked = await api.request("PATCH", `/api/keys/by-id/${key.id}`, { body });

    expect([foreign.status, unknown.status, revoked.status]).toEqual([404, 404, 409]);
    expect(lookups(stripe)).toHaveLength(0);
  });
});

describe("when Stripe cannot answer", () => {
  const unavailable = (res: { status: number; body: any; headers: Headers }) => {
    expect(res.status).toBe(503);
    expect(res.body).toMatchObject({ code: "UNAVAILABLE", status: 503 });
    expect(Number(res.headers.get("retry-after"))).toBeGreaterThan(0);
  };

  test("Stripe stopped: 503 with Retry-After on every route that takes a customer, nothing stored", async ({
    api,
    stripe,
  }) => {
    const key = await api.createKey();
    const before = await api.rowCounts();
    await stripe.close();
    const body = { stripe_customer_id: "cus_Anyone1" };

    unavailable(await api.request("PUT", "/api/users/acme", { body }));
    unavailable(await api.request("POST", "/api/keys", { body: { user_id: "user_1", name: "k", ...body } }));
    unavailable(await api.request("PATCH", `/api/keys/by-id/${key.id}`, { body }));

    expect(await api.rowCounts()).toEqual(before);
    expect(api.logs.join("")).toContain("stripe customer lookup failed");
    expect(api.logs.join("")).not.toContain(stripe.apiKey);
    // Clearing needs no answer from Stripe.
    expect((await api.request("PUT", "/api/users/acme", { body: { stripe_customer_id: null } })).status).toBe(
      200,
    );
  });

  test("STRIPE_API_BASE at a closed port: 503, nothing stored", async ({ services }) => {
    const api = await startApi(services, {
      STRIPE_API_KEY: "sk_test_closedport",
      STRIPE_API_BASE: `http://127.0.0.1:${await closedPort()}`,
    });
    try {
      const before = await api.rowCounts();
      unavailable(
        await api.request("PUT", "/api/users/acme", { body: { stripe_customer_id: "cus_Anyone1" } }),
      );
      expect(await api.rowCounts()).toEqual(before);
    } finally {
      await api.stop();
    }
  });

  test("Stripe answering 5xx, or slower than STRIPE_TIMEOUT: 503", async ({ api, stripe, sdk }) => {
    const { id } = await sdk.customers.create({});
    const path = `/v1/customers/${id}`;

    stripe.faults.serverError({ path, times: 2 });
    unavailable(await api.request("PUT", "/api/users/acme", { body: { stripe_customer_id: id } }));
    stripe.faults.slow({ path, delayMs: 1_500, times: 2 });
    unavailable(await api.request("PUT", "/api/users/acme", { body: { stripe_customer_id: id } }));

    expect((await api.request("PUT", "/api/users/acme", { body: { stripe_customer_id: id } })).status).toBe(
      200,
    );
  });

  test("a key Stripe refuses: 503, and the key is not logged", async ({ services }) => {
    const account = await startStripeEmulator({ apiKey: "sk_test_theaccountskey" });
    const wrongKey = "sk_test_notthisaccount42";
    const api = await startApi(services, { STRIPE_API_KEY: wrongKey, STRIPE_API_BASE: account.url });
    try {
      unavailable(
        await api.request("PUT", "/api/users/acme", { body: { stripe_customer_id: "cus_Anyone1" } }),
      );
      expect(api.logs.join("")).toContain("stripe customer lookup failed");
      expect(api.logs.join("")).not.toContain(wrongKey);
    } finally {
      await api.stop();
      await account.close();
    }
  });
});

withServices(
  "without STRIPE_API_KEY a well-formed customer id is stored unchecked, as before",
  async ({ services }) => {
    const api = await startApi(services);
    try {
      const res = await api.request("PUT", "/api/users/acme", {
        body: { stripe_customer_id: "cus_Unchecked1" },
      });
      expect(res.status).toBe(200);
      expect(res.body.stripe_customer_id).toBe("cus_Unchecked1");
      expect((await api.createKey({ stripe_customer_id: "cus_Unchecked2" })).stripe_customer_id).toBe(
        "cus_Unchecked2",
      );
      expect(
        (await api.request("PUT", "/api/users/acme", { body: { stripe_customer_id: "acme" } })).status,
      ).toBe(400);
    } finally {
      await api.stop();
    }
  },
);
