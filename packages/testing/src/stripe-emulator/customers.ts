import { randomBytes } from "node:crypto";

const BASE62 = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";

/** How a test (or `POST /v1/customers`) declares a customer. */
export interface CustomerInit {
  /** Stripe assigns ids (`cus_` + 14 letters and digits); a test may pick one. */
  id?: string;
  name?: string;
  email?: string;
  description?: string;
  phone?: string;
  metadata?: Record<string, string>;
}

/** A customer as the emulator holds it; a deleted one keeps its id, as Stripe does. */
export interface Customer {
  id: string;
  name: string | null;
  email: string | null;
  description: string | null;
  phone: string | null;
  metadata: Record<string, string>;
  invoicePrefix: string;
  created: number;
  deleted: boolean;
}

/**
 * The account's customers. Meter events are checked against them only when the test declared the
 * account's customers (`customers` option): otherwise any customer id is accepted, as stripe-mock does.
 */
export class CustomerStore {
  private readonly customers = new Map<string, Customer>();

  constructor(
    private readonly nowSeconds: () => number,
    private readonly checkEvents: boolean,
  ) {}

  add(init: CustomerInit = {}): Customer {
    const id = init.id ?? `cus_${randomBase62(14)}`;
    if (this.customers.has(id)) throw new Error(`a customer with id ${id} already exists`);
    const customer: Customer = {
      id,
      name: init.name ?? null,
      email: init.email ?? null,
      description: init.description ?? null,
      phone: init.phone ?? null,
      metadata: { ...init.metadata },
      invoicePrefix: randomBytes(4).toString("hex").toUpperCase(),
      created: this.nowSeconds(),
      deleted: false,
    };
    this.customers.set(id, customer);
    return customer;
  }

  /** Deleted customers included: Stripe still answers them, as a stub. */
  byId(id: string): Customer | undefined {
    return this.customers.get(id);
  }

  delete(id: string): Customer | undefined {
    const customer = this.customers.get(id);
    if (customer === undefined || customer.deleted) return undefined;
    customer.deleted = true;
    return customer;
  }

  /** The customers meter events may name, or null when any id is accepted. */
  eventCustomers(): ReadonlySet<string> | null {
    if (!this.checkEvents) return null;
    return new Set([...this.customers.values()].filter((c) => !c.deleted).map((c) => c.id));
  }
}

/** The `customer` object Stripe returns; a deleted customer is the stub `{ id, object, deleted }`. */
export function customerJson(customer: Customer): Record<string, unknown> {
  if (customer.deleted) return deletedCustomerJson(customer);
  return {
    id: customer.id,
    object: "customer",
    address: null,
    balance: 0,
    created: customer.created,
    currency: null,
    default_source: null,
    delinquent: false,
    description: customer.description,
    discount: null,
    email: customer.email,
    invoice_prefix: customer.invoicePrefix,
    invoice_settings: {
      custom_fields: null,
      default_payment_method: null,
      footer: null,
      rendering_options: null,
    },
    livemode: false,
    metadata: { ...customer.metadata },
    name: customer.name,
    next_invoice_sequence: 1,
    phone: customer.phone,
    preferred_locales: [],
    shipping: null,
    tax_exempt: "none",
    test_clock: null,
  };
}

export function deletedCustomerJson(customer: Customer): Record<string, unknown> {
  return { id: customer.id, object: "customer", deleted: true };
}

function randomBase62(length: number): string {
  return [...randomBytes(length)].map((b) => BASE62[b % BASE62.length]).join("");
}
