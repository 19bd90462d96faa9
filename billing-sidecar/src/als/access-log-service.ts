import type { Logger } from "@gateway/common";
import {
  type HTTPAccessLogEntry__Output,
  loadEnvoyServices,
  type StreamAccessLogsMessage__Output,
  type StreamAccessLogsResponse,
} from "@gateway/proto";
import type * as grpc from "@grpc/grpc-js";
import type { SidecarMetrics } from "../metrics.js";
import type { UsageAggregator } from "../usage/aggregator.js";
import { type BillingRule, EXT_AUTHZ_NAMESPACE, readEntry } from "../usage/entry.js";

type Stream = grpc.ServerReadableStream<StreamAccessLogsMessage__Output, StreamAccessLogsResponse>;

/**
 * envoy.service.accesslog.v3.AccessLogService/StreamAccessLogs. Envoy opens one stream per worker,
 * sends the identifier on each stream's first message only, never expects a response and never
 * half-closes in normal operation; entries are read as they arrive so Envoy's flow-control window
 * never fills.
 */
export class AccessLogService {
  constructor(
    /** The usage aggregator; with BILLING_SOURCE=checks, a sink that bills nothing. */
    private readonly aggregator: Pick<UsageAggregator, "add">,
    private readonly rule: BillingRule,
    private readonly metrics: SidecarMetrics,
    private readonly logger: Logger,
  ) {}

  addToServer(server: grpc.Server): void {
    const definition = loadEnvoyServices().envoy.service.accesslog.v3.AccessLogService.service;
    server.addService(definition, {
      StreamAccessLogs: (call: Stream, callback: grpc.sendUnaryData<StreamAccessLogsResponse>) =>
        this.stream(call, callback),
    });
  }

  private stream(call: Stream, callback: grpc.sendUnaryData<StreamAccessLogsResponse>): void {
    let identity: { node: string; log: string } | undefined;
    let closed = false;
    this.metrics.streams.inc();
    const close = () => {
      if (closed) return;
      closed = true;
      this.metrics.streams.dec();
      this.logger.info({ envoy_node: identity?.node, log_name: identity?.log }, "access-log stream closed");
    };

    call.on("data", (message: StreamAccessLogsMessage__Output) => {
      if (message.identifier && !identity) {
        identity = { node: message.identifier.node?.id ?? "", log: message.identifier.log_name ?? "" };
        this.logger.info({ envoy_node: identity.node, log_name: identity.log }, "access-log stream opened");
      }
      if (message.tcp_logs) {
        this.metrics.entries.inc({ result: "tcp_ignored" }, message.tcp_logs.log_entry?.length ?? 0);
        return;
      }
      const now = Date.now();
      let invalidUnits = 0;
      let example: HTTPAccessLogEntry__Output | undefined;
      for (const entry of message.http_logs?.log_entry ?? []) {
        const event = readEntry(entry, this.rule, now);
        if (typeof event === "string") {
          this.metrics.entries.inc({ result: event });
          continue;
        }
        if (event.invalidUnits) {
          invalidUnits += 1;
          example ??= entry;
        }
        this.aggregator.add(event);
      }
      if (example) this.reportInvalidUnits(invalidUnits, example, identity?.node);
    });
    // Envoy only ends a stream when it shuts down; answering then is harmless and frees the call.
    call.on("end", () => {
      close();
      callback(null, {});
    });
    call.on("cancelled", close);
    call.on("error", close);
  }

  /** One line per message, not per entry: a producer that sends bad units would flood the log. */
  private reportInvalidUnits(
    count: number,
    example: HTTPAccessLogEntry__Output,
    node: string | undefined,
  ): void {
    this.metrics.invalidUnits.inc(count);
    const fields = example.common_properties?.metadata?.filter_metadata?.[EXT_AUTHZ_NAMESPACE]?.fields;
    this.logger.warn(
      {
        entries: count,
        envoy_node: node,
        api_key_id: fields?.api_key_id?.stringValue,
        units: describeValue(fields?.units),
      },
      "access-log entries with invalid units: billed as 1 unit each",
    );
  }
}

/** A metadata Value for a log line, without the loader's `kind` echo; bounded, as it may be a long string. */
function describeValue(value: object | undefined): string {
  const { kind, ...content } = (value ?? {}) as { kind?: string };
  return JSON.stringify(content).slice(0, 80);
}
