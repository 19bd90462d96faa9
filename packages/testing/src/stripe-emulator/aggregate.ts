import type { Meter, MeterFormula, RecordedMeterEvent } from "./types.js";

const WINDOW_SECONDS = { hour: 3600, day: 86_400 } as const;

/**
 * The events a meter counts. A meter with `event_time_window` is fed pre-aggregated values:
 * "a newer event sent within the same hourly or daily window overwrites the previous one", so
 * per customer and window only the last one received survives.
 */
export function countedEvents(meter: Meter, events: readonly RecordedMeterEvent[]): RecordedMeterEvent[] {
  const own = events.filter((e) => e.meterId === meter.id);
  if (meter.eventTimeWindow === null) return own;
  const size = WINDOW_SECONDS[meter.eventTimeWindow];
  const newest = new Map<string, RecordedMeterEvent>();
  for (const event of own) {
    newest.set(`${event.customer}\u0000${Math.floor(event.timestamp / size)}`, event);
  }
  return own.filter((e) => newest.get(`${e.customer}\u0000${Math.floor(e.timestamp / size)}`) === e);
}

/**
 * A meter formula over events in receive order: `sum` of values, `count` of events, `last`
 * value by event time (the later-received one on a tie). An empty window aggregates to 0.
 */
export function aggregate(formula: MeterFormula, events: readonly RecordedMeterEvent[]): number {
  switch (formula) {
    case "sum":
      return events.reduce((total, e) => total + Number(e.value), 0);
    case "count":
      return events.length;
    case "last": {
      let latest: RecordedMeterEvent | undefined;
      for (const event of events) {
        if (latest === undefined || event.timestamp >= latest.timestamp) latest = event;
      }
      return latest === undefined ? 0 : Number(latest.value);
    }
  }
}
