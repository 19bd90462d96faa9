import { performance } from "node:perf_hooks";
import type autocannon from "autocannon";

/**
 * The parts of autocannon 9's HTTP client (lib/httpClient.js) that pacing replaces: `_doRequest`
 * writes the next request at once, and `rate`, when set, is a budget per one-second window.
 */
interface ClientInternals {
  rate: number | undefined;
  destroyed: boolean;
  _doRequest(): void;
}

/** A send this much after its slot counts as late: the timer's own granularity is about 1 ms. */
export const LATE_MS = 2;

export interface Slots {
  /** The slot of connection 0's first request (performance.now() milliseconds). */
  startMs: number;
  /** Requests per second over all connections. */
  rate: number;
  connections: number;
}

export interface PacingRecorder {
  /** Called for each answer with the time from its slot, and whether it left late. */
  answered(fromSlotMs: number, late: boolean): void;
}

/**
 * Sends connection `index`'s requests on an even schedule: every `connections / rate` seconds,
 * connection i offset by i / rate, so the connections together send one request every 1 / rate s.
 *
 * autocannon's own `overallRate` gives each connection a budget per one-second window that it
 * spends back to back as soon as the window opens, so 1,000/s over 10 connections is ten closed
 * loops of 100 requests at the top of each second and then silence: the latency measured is that
 * of a burst, not of a steady 1,000/s. Its correction for coordinated omission then takes the
 * expected interval as ceil(1 / rate) ms, i.e. 1 ms, and adds a synthetic sample for every
 * millisecond of each answer. Hence this schedule, installed through `setupClient`, in place of both.
 *
 * A connection whose answer arrives after its next slot sends at once (it has one request in
 * flight, as autocannon allows): that send is late, and its latency from the slot says by how much.
 */
export function paceClient(client: autocannon.Client, index: number, slots: Slots, recorder: PacingRecorder) {
  const internals = client as unknown as ClientInternals;
  if (typeof internals._doRequest !== "function") {
    throw new Error("autocannon's client has no _doRequest: pacing.ts needs updating for this version");
  }
  // Read after setupClient returns: 0 means no per-second budget and no timer for it.
  internals.rate = 0;
  const send = internals._doRequest.bind(client);
  const intervalMs = (1_000 * slots.connections) / slots.rate;
  let nextSlot = slots.startMs + (1_000 * index) / slots.rate;
  let inFlightSlot = 0;
  let inFlightLate = false;
  let timer: NodeJS.Timeout | undefined;

  const sendNow = (slot: number) => {
    if (internals.destroyed) return;
    inFlightSlot = slot;
    inFlightLate = performance.now() - slot > LATE_MS;
    send();
  };
  internals._doRequest = () => {
    const slot = nextSlot;
    nextSlot += intervalMs;
    const wait = slot - performance.now();
    if (wait <= 0) sendNow(slot);
    else timer = setTimeout(() => sendNow(slot), wait);
  };
  // Emitted before the client asks for its next request, so the slot is still the answered one's.
  client.on("response", () => recorder.answered(performance.now() - inFlightSlot, inFlightLate));
  // "done" (the client was destroyed at the end of the run) is missing from @types/autocannon.
  const emitter: NodeJS.EventEmitter = client;
  emitter.on("done", () => clearTimeout(timer));
}
