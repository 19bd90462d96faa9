import type { ErrorReport, RecordedMeterEvent } from "./types.js";

const DAY_MS = 24 * 60 * 60 * 1000;

/**
 * Accepted meter events, the identifiers seen, and the async error reports. Identifier
 * uniqueness is account-wide and lasts `identifierTtlMs` (Stripe: "a rolling period of at least
 * 24 hours"; whether it is per event name is undocumented, so the stricter account-wide scope).
 */
export class Ledger {
  private accepted: RecordedMeterEvent[] = [];
  private reports: ErrorReport[] = [];
  private readonly identifiers = new Map<string, number>();

  constructor(
    private readonly nowMs: () => number,
    private readonly identifierTtlMs = DAY_MS,
  ) {}

  isDuplicate(identifier: string): boolean {
    const seenAt = this.identifiers.get(identifier);
    return seenAt !== undefined && this.nowMs() - seenAt < this.identifierTtlMs;
  }

  record(event: Omit<RecordedMeterEvent, "receivedAtMs">): RecordedMeterEvent {
    const recorded: RecordedMeterEvent = { ...event, receivedAtMs: this.nowMs() };
    this.accepted.push(recorded);
    this.identifiers.set(event.identifier, recorded.receivedAtMs);
    return recorded;
  }

  report(report: Omit<ErrorReport, "reportedAtMs">): void {
    this.reports.push({ ...report, reportedAtMs: this.nowMs() });
  }

  events(): readonly RecordedMeterEvent[] {
    return this.accepted;
  }

  errorReports(): readonly ErrorReport[] {
    return this.reports;
  }

  clear(): void {
    this.accepted = [];
    this.reports = [];
    this.identifiers.clear();
  }
}
