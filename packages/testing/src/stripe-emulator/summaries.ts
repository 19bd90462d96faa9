import { createHash } from "node:crypto";
import { aggregate, countedEvents } from "./aggregate.js";
import { type Handler, ok } from "./context.js";
import { badRequest } from "./errors.js";
import type { FormObject } from "./form.js";
import { meterOrThrow } from "./meter-routes.js";
import { PAGINATION_PARAMS, paginate } from "./pagination.js";
import { FormParams } from "./params.js";

const ALIGNMENT = { minute: 60, hour: 3600, day: 86_400 } as const;
type Grouping = "hour" | "day";

/**
 * `GET /v1/billing/meters/:id/event_summaries`: the meter formula over one customer's events in
 * [start_time, end_time), as one summary or one per hour/day, newest window first. Windows
 * without events are left out (whether Stripe lists zero windows is not documented).
 */
export const listEventSummaries: Handler = (req, state) => {
  const meter = meterOrThrow(state, req.pathParams.id ?? "");
  const params = new FormParams(req.params as FormObject, [
    ...PAGINATION_PARAMS,
    "customer",
    "start_time",
    "end_time",
    "value_grouping_window",
  ]);
  params.ignoreExpand();
  const customer = params.requiredString("customer");
  const start = params.requiredInteger("start_time");
  const end = params.requiredInteger("end_time");
  const grouping = params.oneOf("value_grouping_window", ["hour", "day"] as const);
  checkAligned(start, "start_time", grouping);
  checkAligned(end, "end_time", grouping);
  if (end <= start) throw badRequest("end_time must be later than start_time.", "end_time");

  // Events still "being aggregated" are invisible, and so cannot overwrite older ones yet.
  const visibleBefore = state.nowMs() - state.summaryLagMs;
  const events = countedEvents(
    meter,
    state.ledger.events().filter((e) => e.customer === customer && e.receivedAtMs <= visibleBefore),
  );
  const size = grouping === undefined ? end - start : ALIGNMENT[grouping];
  const summaries = [];
  for (let from = start; from < end; from += size) {
    const to = Math.min(from + size, end);
    const inWindow = events.filter((e) => e.timestamp >= from && e.timestamp < to);
    if (inWindow.length === 0) continue;
    summaries.push({
      id: summaryId(meter.id, customer, from, to),
      object: "billing.meter_event_summary",
      aggregated_value: aggregate(meter.formula, inWindow),
      end_time: to,
      livemode: false,
      meter: meter.id,
      start_time: from,
    });
  }
  summaries.reverse();
  const page = paginate(summaries, params);
  return ok({
    object: "list",
    url: `/v1/billing/meters/${meter.id}/event_summaries`,
    has_more: page.has_more,
    data: page.data,
  });
};

function checkAligned(time: number, param: string, grouping: Grouping | undefined): void {
  const unit = grouping ?? "minute";
  if (time % ALIGNMENT[unit] !== 0) {
    const boundary = unit === "day" ? "a day boundary (00:00 UTC)" : `a ${unit} boundary`;
    throw badRequest(`${param} must be aligned to ${boundary}.`, param);
  }
}

/** Stable per window, so pagination cursors survive between calls. */
function summaryId(meterId: string, customer: string, from: number, to: number): string {
  const digest = createHash("sha256").update(`${meterId}|${customer}|${from}|${to}`).digest("hex");
  return `mtrusg_test_${digest.slice(0, 24)}`;
}
