import { type EmulatorState, type Handler, ok } from "./context.js";
import { badRequest, missingParam, resourceMissing, tooLong, unknownParam } from "./errors.js";
import type { FormObject } from "./form.js";
import { meterJson } from "./meters.js";
import { PAGINATION_PARAMS, paginate } from "./pagination.js";
import { FormParams } from "./params.js";
import type { Meter, MeterFormula } from "./types.js";

const MAX_EVENT_NAME = 100;
const MAX_DISPLAY_NAME = 250;
const MAX_PAYLOAD_KEY = 100;
const FORMULAS: readonly MeterFormula[] = ["sum", "count", "last"];
const CREATE_PARAMS = [
  "display_name",
  "event_name",
  "default_aggregation",
  "customer_mapping",
  "value_settings",
  "event_time_window",
  "expand",
] as const;

/** `POST /v1/billing/meters`, with the parameters and defaults of Stripe's API reference. */
export const createMeter: Handler = async (req, state) => {
  const params = new FormParams(req.params as FormObject, CREATE_PARAMS);
  params.ignoreExpand();
  const displayName = params.requiredString("display_name", MAX_DISPLAY_NAME);
  const eventName = params.requiredString("event_name", MAX_EVENT_NAME);
  const aggregation = hash(params, "default_aggregation", ["formula"]);
  if (aggregation === undefined) throw missingParam("default_aggregation");
  const formula = aggregation.formula;
  if (formula === undefined || formula === "") throw missingParam("default_aggregation[formula]");
  if (!(FORMULAS as readonly string[]).includes(formula)) {
    throw badRequest(
      `Invalid default_aggregation[formula]: must be one of ${FORMULAS.join(", ")}`,
      "default_aggregation[formula]",
    );
  }
  const mapping = hash(params, "customer_mapping", ["type", "event_payload_key"]);
  if (mapping !== undefined && mapping.type !== "by_id") {
    if (mapping.type === undefined || mapping.type === "") throw missingParam("customer_mapping[type]");
    throw badRequest("Invalid customer_mapping[type]: must be by_id", "customer_mapping[type]");
  }
  const customerKey = payloadKey(mapping, "customer_mapping");
  const valueKey = payloadKey(hash(params, "value_settings", ["event_payload_key"]), "value_settings");
  const eventTimeWindow = params.oneOf("event_time_window", ["hour", "day"] as const);
  // One meter per event name (reference §3.2); Stripe's wording for this refusal is not documented.
  if (state.meters.byEventName(eventName) !== undefined) {
    throw badRequest(`A meter with event_name '${eventName}' already exists.`, "event_name");
  }
  await req.pause();
  const meter = state.meters.add({
    eventName,
    displayName,
    formula: formula as MeterFormula,
    ...(customerKey === undefined ? {} : { customerKey }),
    ...(valueKey === undefined ? {} : { valueKey }),
    ...(eventTimeWindow === undefined ? {} : { eventTimeWindow }),
  });
  return ok(meterJson(meter));
};

/** `POST /v1/billing/meters/:id`: meters are immutable but for their display name. */
export const updateMeter: Handler = async (req, state) => {
  const params = new FormParams(req.params as FormObject, ["display_name", "expand"]);
  params.ignoreExpand();
  const meter = meterOrThrow(state, req.pathParams.id ?? "");
  const displayName = params.string("display_name", MAX_DISPLAY_NAME);
  await req.pause();
  return ok(meterJson(displayName === undefined ? meter : state.meters.rename(meter.id, displayName)));
};

/**
 * `POST /v1/billing/meters/:id/deactivate` and `/reactivate`. What Stripe answers for a meter already
 * in the asked status is not documented; the emulator answers the meter unchanged.
 */
export const setMeterStatus =
  (status: Meter["status"]): Handler =>
  async (req, state) => {
    new FormParams(req.params as FormObject, ["expand"]).ignoreExpand();
    const meter = meterOrThrow(state, req.pathParams.id ?? "");
    await req.pause();
    return ok(meterJson(meter.status === status ? meter : state.meters.setStatus(meter.id, status)));
  };

/** A `name[key]=value` parameter whose keys must be among `allowed`. */
function hash(params: FormParams, name: string, allowed: readonly string[]) {
  const map = params.stringMap(name);
  for (const key of Object.keys(map ?? {})) {
    if (!allowed.includes(key)) throw unknownParam(`${name}[${key}]`);
  }
  return map;
}

function payloadKey(map: Record<string, string> | undefined, name: string): string | undefined {
  if (map === undefined) return undefined;
  const key = map.event_payload_key;
  const param = `${name}[event_payload_key]`;
  if (key === undefined || key === "") throw missingParam(param);
  if (key.length > MAX_PAYLOAD_KEY) throw tooLong(param, key, MAX_PAYLOAD_KEY);
  return key;
}

/** `GET /v1/billing/meters`: how the sidecar finds the meter for an event name. */
export const listMeters: Handler = (req, state) => {
  const params = new FormParams(req.params as FormObject, [...PAGINATION_PARAMS, "status"]);
  params.ignoreExpand();
  const status = params.oneOf("status", ["active", "inactive"] as const);
  const meters = state.meters.list().filter((m) => status === undefined || m.status === status);
  const page = paginate(meters, params);
  return ok({
    object: "list",
    url: "/v1/billing/meters",
    has_more: page.has_more,
    data: page.data.map(meterJson),
  });
};

/** `GET /v1/billing/meters/:id`. */
export const retrieveMeter: Handler = (req, state) => {
  new FormParams(req.params as FormObject, ["expand"]).ignoreExpand();
  return ok(meterJson(meterOrThrow(state, req.pathParams.id ?? "")));
};

export function meterOrThrow(state: EmulatorState, id: string): Meter {
  const meter = state.meters.byId(id);
  // Wording guessed from integrations that match "No such meter" (reference §1.4).
  if (meter === undefined) throw resourceMissing(`No such meter: '${id}'`, "id");
  return meter;
}
