import { describe, expect, it } from "vitest";
import { readEntry } from "../../billing-sidecar/src/usage/entry.js";
import {
  benchKeys,
  decodeFrame,
  identifierBytes,
  seededRandom,
  type Template,
  TemplateSet,
} from "./access-log.js";
import { lagAt } from "./lag.js";
import { RequestIds, setStartSeconds, stamp } from "./replay.js";

// The generator sends these bytes for every entry it counts, so they are checked against the
// sidecar's own decoder and its own reading of an entry.
describe("pre-encoded access-log messages", () => {
  const random = seededRandom(7);
  const keys = benchKeys(50, 5, random);
  const perMessage = TemplateSet.entriesPerMessage(keys, 16_384, random);
  const templates = new TemplateSet(keys, 8, perMessage, random).encode();
  const template = templates[0] as Template;

  it("decode with fresh ids in each copy, the start time set, and the identifier only where asked", () => {
    setStartSeconds(templates, 1_795_000_000);
    const ids = new RequestIds("0123abcd");
    const first = decodeFrame(stamp(template, ids, identifierBytes("edge-7")));
    const second = decodeFrame(stamp(template, ids));
    expect(first.identifier?.node?.id).toBe("edge-7");
    expect(second.identifier).toBeUndefined();
    const entries = [...(first.http_logs?.log_entry ?? []), ...(second.http_logs?.log_entry ?? [])];
    expect(entries).toHaveLength(2 * perMessage);
    const requestIds = entries.map((e) => e.request?.request_id);
    expect(new Set(requestIds).size).toBe(entries.length);
    expect(requestIds[0]).toBe("0123abcd-0000-0000-0000-000000000001");
    for (const entry of entries) {
      expect(entry.common_properties?.stream_id).toBe(entry.request?.request_id);
      expect(entry.common_properties?.start_time?.seconds).toBe("1795000000");
    }
    setStartSeconds(templates, 1_795_000_061);
    const later = decodeFrame(stamp(template, ids)).http_logs?.log_entry?.[0];
    expect(later?.common_properties?.start_time?.seconds).toBe("1795000061");
  });

  it("count as usage exactly the entries the sidecar bills or counts", () => {
    const ids = new RequestIds("0123abcd");
    for (const each of templates) {
      const entries = decodeFrame(stamp(each, ids)).http_logs?.log_entry ?? [];
      const usage = entries.filter(
        (e) => typeof readEntry(e, { billableStatuses: [[100, 499]] }, Date.now()) !== "string",
      );
      expect(usage).toHaveLength(each.counted);
    }
  });

  it("number request ids as a decimal odometer", () => {
    const ids = new RequestIds("ffffffff");
    let last = "";
    for (let i = 0; i < 1_000; i++) last = ids.next().toString("latin1");
    expect(last).toBe("ffffffff-0000-0000-0000-000000001000");
  });
});

describe("lag", () => {
  const timeline = [
    { at: 1_000, entries: 1_000, counted: 1_000 },
    { at: 2_000, entries: 2_000, counted: 2_000 },
    { at: 3_000, entries: 3_000, counted: 3_000 },
  ];

  it("is the age of the oldest request sent but not in Postgres", () => {
    expect(lagAt(timeline, { at: 3_000, requests: 1_500 })).toBeCloseTo(1.5);
    expect(lagAt(timeline, { at: 4_000, requests: 2_000 })).toBeCloseTo(2);
  });

  it("is 0 when Postgres holds everything sent by then", () => {
    expect(lagAt(timeline, { at: 2_500, requests: 2_000 })).toBe(0);
    expect(lagAt(timeline, { at: 9_000, requests: 3_000 })).toBe(0);
  });
});
