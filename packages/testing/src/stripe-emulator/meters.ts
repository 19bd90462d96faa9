import { randomBytes } from "node:crypto";
import type { Meter, MeterInit } from "./types.js";

const MAX_EVENT_NAME = 100;

/** The meters the emulated account has. One event name maps to exactly one meter, as in Stripe. */
export class MeterRegistry {
  private readonly meters: Meter[] = [];

  constructor(private readonly nowSeconds: () => number) {}

  add(init: MeterInit): Meter {
    if (init.eventName === "" || init.eventName.length > MAX_EVENT_NAME) {
      throw new RangeError(`event name must be 1–${MAX_EVENT_NAME} characters: ${init.eventName}`);
    }
    if (this.meters.some((m) => m.eventName === init.eventName)) {
      throw new Error(`a meter for event name ${init.eventName} already exists`);
    }
    const id = init.id ?? `mtr_test_${randomBytes(12).toString("hex")}`;
    if (this.meters.some((m) => m.id === id)) throw new Error(`a meter with id ${id} already exists`);
    const meter: Meter = {
      id,
      eventName: init.eventName,
      displayName: init.displayName ?? init.eventName,
      formula: init.formula ?? "sum",
      customerKey: init.customerKey ?? "stripe_customer_id",
      valueKey: init.valueKey ?? "value",
      eventTimeWindow: init.eventTimeWindow ?? null,
      status: init.status ?? "active",
      created: this.nowSeconds(),
      updated: this.nowSeconds(),
      deactivatedAt: init.status === "inactive" ? this.nowSeconds() : null,
    };
    this.meters.push(meter);
    return meter;
  }

  /** Test hook for a meter deactivated (or reactivated) in the Dashboard. */
  setStatus(idOrEventName: string, status: Meter["status"]): Meter {
    const meter = this.meters.find((m) => m.id === idOrEventName || m.eventName === idOrEventName);
    if (meter === undefined) throw new Error(`no meter ${idOrEventName}`);
    meter.status = status;
    meter.updated = this.nowSeconds();
    meter.deactivatedAt = status === "inactive" ? meter.updated : null;
    return meter;
  }

  /** The one change Stripe allows to a meter (`POST /v1/billing/meters/:id`). */
  rename(id: string, displayName: string): Meter {
    const meter = this.meters.find((m) => m.id === id);
    if (meter === undefined) throw new Error(`no meter ${id}`);
    meter.displayName = displayName;
    meter.updated = this.nowSeconds();
    return meter;
  }

  byId(id: string): Meter | undefined {
    return this.meters.find((m) => m.id === id);
  }

  byEventName(eventName: string): Meter | undefined {
    return this.meters.find((m) => m.eventName === eventName);
  }

  /** Newest first, as Stripe lists. */
  list(): Meter[] {
    return [...this.meters].reverse();
  }
}

/** The `billing.meter` object Stripe returns. */
export function meterJson(meter: Meter): Record<string, unknown> {
  return {
    id: meter.id,
    object: "billing.meter",
    created: meter.created,
    customer_mapping: { event_payload_key: meter.customerKey, type: "by_id" },
    default_aggregation: { formula: meter.formula },
    display_name: meter.displayName,
    event_name: meter.eventName,
    event_time_window: meter.eventTimeWindow,
    livemode: false,
    status: meter.status,
    status_transitions: { deactivated_at: meter.deactivatedAt },
    updated: meter.updated,
    value_settings: { event_payload_key: meter.valueKey },
  };
}
