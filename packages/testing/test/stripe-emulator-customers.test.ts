import Stripe from "stripe";
import { afterAll, describe, expect, test } from "vitest";
import { type StripeEmulator, startStripeEmulator } from "../src/index.js";

// Customers as the official SDK creates, retrieves and deletes them, with Stripe's answers.

const emulator: StripeEmulator = await startStripeEmulator({ meters: [{ eventName: "api_requests" }] });
afterAll(() => emulator.close());
const stripe = new Stripe(emulator.apiKey, { ...emulator.sdkConfig, maxNetworkRetries: 0, telemetry: false });

describe("customers", () => {
  test("a created customer is retrieved with what it was created with", async () => {
    const created = await stripe.customers.create({
      name: "Acme",
      email: "billing@acme.test",
      metadata: { user_id: "acme", unset: "" },
    });

    expect(created.id).toMatch(/^cus_[A-Za-z0-9]{14}$/);
    const retrieved = await stripe.customers.retrieve(created.id);
    expect(retrieved).toMatchObject({
      id: created.id,
      object: "customer",
      name: "Acme",
      email: "billing@acme.test",
      metadata: { user_id: "acme" },
      livemode: false,
    });
    expect("deleted" in retrieved).toBe(false);
  });

  test("an unknown customer is a 404 resource_missing naming it", async () => {
    const error = await stripe.customers.retrieve("cus_doesnotexist").catch((e: unknown) => e);

    expect(error).toBeInstanceOf(Stripe.errors.StripeInvalidRequestError);
    expect(error).toMatchObject({
      statusCode: 404,
      code: "resource_missing",
      param: "id",
      message: "No such customer: 'cus_doesnotexist'",
    });
  });

  test("a deleted customer is retrieved as the deleted stub with 200; deleting it again is a 404", async () => {
    const { id } = await stripe.customers.create({});

    expect(await stripe.customers.del(id)).toMatchObject({ id, object: "customer", deleted: true });
    const retrieved = await stripe.customers.retrieve(id);
    expect({ ...retrieved, lastResponse: undefined }).toEqual({
      id,
      object: "customer",
      deleted: true,
      lastResponse: undefined,
    });
    const again = await stripe.customers.del(id).catch((e: unknown) => e);
    expect(again).toMatchObject({ statusCode: 404, code: "resource_missing" });
  });

  test("a parameter the emulator does not model is refused as unknown", async () => {
    const error = await stripe.customers
      .create({ tax_exempt: "exempt" } as Stripe.CustomerCreateParams)
      .catch((e: unknown) => e);

    expect(error).toMatchObject({ statusCode: 400, code: "parameter_unknown", param: "tax_exempt" });
  });
});

describe("customers and meter events", () => {
  test("with declared customers, one created later is accepted and a deleted one refused", async () => {
    const strict = await startStripeEmulator({ meters: [{ eventName: "api_requests" }], customers: [] });
    const client = new Stripe(strict.apiKey, { ...strict.sdkConfig, maxNetworkRetries: 0, telemetry: false });
    const send = (customer: string) =>
      client.billing.meterEvents.create({
        event_name: "api_requests",
        payload: { stripe_customer_id: customer, value: "1" },
      });
    try {
      const { id } = await client.customers.create({});
      await send(id);
      await client.customers.del(id);
      const error = await send(id).catch((e: unknown) => e);

      expect(error).toMatchObject({ statusCode: 400, message: `No such customer: '${id}'` });
      expect(strict.events()).toHaveLength(1);
    } finally {
      await strict.close();
    }
  });

  test("a test can add a customer directly, and retrieve it through the SDK", async () => {
    const customer = emulator.addCustomer({ name: "Direct" });

    expect(await stripe.customers.retrieve(customer.id)).toMatchObject({ id: customer.id, name: "Direct" });
  });
});
