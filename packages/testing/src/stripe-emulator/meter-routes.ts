import { type EmulatorState, type Handler, ok } from "./context.js";
import { resourceMissing } from "./errors.js";
import type { FormObject } from "./form.js";
import { meterJson } from "./meters.js";
import { PAGINATION_PARAMS, paginate } from "./pagination.js";
import { FormParams } from "./params.js";
import type { Meter } from "./types.js";

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
