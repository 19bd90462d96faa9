export { type ManualClock, manualClock } from "./clock.js";
export type { Customer, CustomerInit } from "./customers.js";
export { type StripeEmulator, type StripeEmulatorOptions, startStripeEmulator } from "./emulator.js";
export type { DeferrableCheck } from "./event-rules.js";
export type { FaultControls, FaultMatch } from "./faults.js";
export type {
  ErrorReport,
  EventSource,
  Meter,
  MeterFormula,
  MeterInit,
  MeterTotal,
  RecordedMeterEvent,
  RequestRecord,
} from "./types.js";
