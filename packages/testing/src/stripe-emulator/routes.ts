import type { Handler } from "./context.js";
import { createCustomer, deleteCustomer, retrieveCustomer } from "./customer-routes.js";
import { createMeterEvent } from "./meter-events.js";
import { createMeter, listMeters, retrieveMeter, setMeterStatus, updateMeter } from "./meter-routes.js";
import { createSession, streamEvents } from "./stream.js";
import { listEventSummaries } from "./summaries.js";

export interface Route {
  method: "GET" | "POST" | "DELETE";
  pattern: RegExp;
  /** v1 takes form bodies and query strings; v2 takes JSON. */
  api: "v1" | "v2";
  /** The stream alone is authenticated by a meter event session token instead of a secret key. */
  auth: "secret_key" | "session_token";
  handler: Handler;
}

const ID = "(?<id>[A-Za-z0-9_]+)";

const ROUTES: readonly Route[] = [
  {
    method: "POST",
    pattern: /^\/v1\/billing\/meter_events$/,
    api: "v1",
    auth: "secret_key",
    handler: createMeterEvent,
  },
  { method: "GET", pattern: /^\/v1\/billing\/meters$/, api: "v1", auth: "secret_key", handler: listMeters },
  { method: "POST", pattern: /^\/v1\/billing\/meters$/, api: "v1", auth: "secret_key", handler: createMeter },
  {
    method: "GET",
    pattern: new RegExp(`^/v1/billing/meters/${ID}$`),
    api: "v1",
    auth: "secret_key",
    handler: retrieveMeter,
  },
  {
    method: "POST",
    pattern: new RegExp(`^/v1/billing/meters/${ID}$`),
    api: "v1",
    auth: "secret_key",
    handler: updateMeter,
  },
  {
    method: "POST",
    pattern: new RegExp(`^/v1/billing/meters/${ID}/deactivate$`),
    api: "v1",
    auth: "secret_key",
    handler: setMeterStatus("inactive"),
  },
  {
    method: "POST",
    pattern: new RegExp(`^/v1/billing/meters/${ID}/reactivate$`),
    api: "v1",
    auth: "secret_key",
    handler: setMeterStatus("active"),
  },
  { method: "POST", pattern: /^\/v1\/customers$/, api: "v1", auth: "secret_key", handler: createCustomer },
  {
    method: "GET",
    pattern: new RegExp(`^/v1/customers/${ID}$`),
    api: "v1",
    auth: "secret_key",
    handler: retrieveCustomer,
  },
  {
    method: "DELETE",
    pattern: new RegExp(`^/v1/customers/${ID}$`),
    api: "v1",
    auth: "secret_key",
    handler: deleteCustomer,
  },
  {
    method: "GET",
    pattern: new RegExp(`^/v1/billing/meters/${ID}/event_summaries$`),
    api: "v1",
    auth: "secret_key",
    handler: listEventSummaries,
  },
  {
    method: "POST",
    pattern: /^\/v2\/billing\/meter_event_session$/,
    api: "v2",
    auth: "secret_key",
    handler: createSession,
  },
  {
    method: "POST",
    pattern: /^\/v2\/billing\/meter_event_stream$/,
    api: "v2",
    auth: "session_token",
    handler: streamEvents,
  },
];

export interface RouteMatch {
  route: Route;
  pathParams: Record<string, string>;
}

export function findRoute(method: string, path: string): RouteMatch | null {
  for (const route of ROUTES) {
    if (route.method !== method) continue;
    const match = route.pattern.exec(path);
    if (match !== null) return { route, pathParams: { ...match.groups } };
  }
  return null;
}
