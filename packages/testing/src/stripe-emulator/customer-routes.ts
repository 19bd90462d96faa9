import { type Handler, ok } from "./context.js";
import { customerJson, deletedCustomerJson } from "./customers.js";
import { resourceMissing } from "./errors.js";
import type { FormObject } from "./form.js";
import { FormParams } from "./params.js";

/**
 * The parameters the emulator models. Stripe takes many more; those are refused here as unknown, so
 * a test that relies on one notices that the emulator does not model it.
 */
const CREATE_PARAMS = ["name", "email", "description", "phone", "metadata", "expand"] as const;

/** `POST /v1/customers`: every parameter is optional. */
export const createCustomer: Handler = async (req, state) => {
  const params = new FormParams(req.params as FormObject, CREATE_PARAMS);
  params.ignoreExpand();
  const metadata = Object.fromEntries(
    // `metadata[key]=` unsets a key in Stripe's form API, so an empty value stores nothing.
    Object.entries(params.stringMap("metadata") ?? {}).filter(([, value]) => value !== ""),
  );
  const fields = {
    name: params.string("name"),
    email: params.string("email"),
    description: params.string("description"),
    phone: params.string("phone"),
  };
  await req.pause();
  const defined = Object.fromEntries(Object.entries(fields).filter(([, value]) => value !== undefined));
  return ok(customerJson(state.customers.add({ ...defined, metadata })));
};

/** `GET /v1/customers/:id`: a deleted customer is answered 200 with `deleted: true`, as Stripe does. */
export const retrieveCustomer: Handler = (req, state) => {
  new FormParams(req.params as FormObject, ["expand"]).ignoreExpand();
  const id = req.pathParams.id ?? "";
  const customer = state.customers.byId(id);
  if (customer === undefined) throw noSuchCustomer(id);
  return ok(customerJson(customer));
};

/** `DELETE /v1/customers/:id`: a customer already deleted is no longer there to delete. */
export const deleteCustomer: Handler = async (req, state) => {
  new FormParams(req.params as FormObject, []);
  const id = req.pathParams.id ?? "";
  if (state.customers.byId(id)?.deleted !== false) throw noSuchCustomer(id);
  await req.pause();
  const deleted = state.customers.delete(id);
  if (deleted === undefined) throw noSuchCustomer(id);
  return ok(deletedCustomerJson(deleted));
};

const noSuchCustomer = (id: string) => resourceMissing(`No such customer: '${id}'`, "id");
