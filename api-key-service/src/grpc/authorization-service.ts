import type { Logger, UnaryGrpcServer } from "@gateway/common";
import { GrpcError, Status } from "@gateway/h2-grpc";
import {
  AUTHORIZATION_CHECK_PATH,
  authMessageType,
  type CheckRequest__Output,
  type CheckResponse,
  loadEnvoyServices,
} from "@gateway/proto";
import type { CheckInput, KeyChecker } from "../authz/check-key.js";
import { parseCost, parseScopes } from "../authz/credentials.js";
import type { Decision } from "../authz/decision.js";
import type { AuthzMetrics } from "../authz/metrics.js";
import { readCheckInput } from "./check-request-reader.js";
import { AllowedResponseEncoder, type ResponseSettings, toCheckResponse } from "./check-response.js";

/** A CheckResponse as an object, or already encoded (allowed checks: see AllowedResponseEncoder). */
type Answer = CheckResponse | Buffer;

/** envoy.service.auth.v3.Authorization: reads Envoy's CheckRequest, asks the KeyChecker, answers. */
export class AuthorizationService {
  private readonly allowed: AllowedResponseEncoder;
  /** The allowed outcome's duration series, looked up once. */
  private readonly allowedDuration;

  constructor(
    private readonly checker: KeyChecker,
    private readonly settings: ResponseSettings,
    private readonly metrics: AuthzMetrics,
    private readonly logger: Logger,
  ) {
    this.allowed = new AllowedResponseEncoder(settings);
    this.allowedDuration = metrics.duration.series("allowed");
  }

  /**
   * Registers Check. `decoder`: "wire" reads only what the check uses from the request's bytes
   * (check-request-reader.ts); "protobufjs" decodes the whole CheckRequest with the library, the
   * fallback (CHECK_REQUEST_DECODER). Both answer a message they cannot read with INTERNAL.
   */
  addToServer(server: UnaryGrpcServer, decoder: "wire" | "protobufjs" = "wire"): void {
    const serialize = loadEnvoyServices().envoy.service.auth.v3.Authorization.service.Check.responseSerialize;
    const CheckRequest = authMessageType("envoy.service.auth.v3.CheckRequest");
    // Decoded without proto-loader's toObject pass, which copies the whole message again. What
    // toCheckInput reads (headers, header_map, context_extensions) has the same shape either way:
    // maps as plain objects, strings, bytes as Buffers.
    const read =
      decoder === "wire"
        ? readCheckInput
        : (bytes: Buffer) => toCheckInput(CheckRequest.decode(bytes) as unknown as CheckRequest__Output);
    const bytesOf = (answer: Answer) => (Buffer.isBuffer(answer) ? answer : serialize(answer));
    server.addUnary(AUTHORIZATION_CHECK_PATH, (bytes) => {
      let input: CheckInput;
      try {
        input = read(bytes);
      } catch {
        throw new GrpcError(Status.INTERNAL, "malformed CheckRequest");
      }
      return this.check(input, bytesOf);
    });
  }

  /**
   * The answer to a check, passed through `then` (the handler's encoding) in the same step: a check
   * that waits on Redis makes one promise here and one in the checker, and a denial before the
   * limiter none.
   */
  check<T>(input: CheckInput, then: (answer: Answer) => T): T | Promise<T> {
    // performance.now(): a double, where hrtime.bigint() allocates a BigInt at each end.
    const started = performance.now();
    let decision: Decision | Promise<Decision>;
    try {
      decision = this.checker.check(input);
    } catch (err) {
      decision = this.failed(err);
    }
    if (!(decision instanceof Promise)) return then(this.answer(decision, started));
    return decision.then(
      (settled) => then(this.answer(settled, started)),
      (err: unknown) => then(this.answer(this.failed(err), started)),
    );
  }

  private failed(err: unknown): Decision {
    this.logger.error({ err: (err as Error).message }, "check failed unexpectedly");
    return unavailable;
  }

  private answer(decision: Decision, started: number): Answer {
    const seconds = (performance.now() - started) / 1e3;
    if (decision.allowed) {
      this.metrics.allowed.inc();
      this.allowedDuration.observe(seconds);
      return this.allowed.encode(decision.key, decision.limits, decision.units);
    }
    this.metrics.checks.inc({ outcome: "denied", reason: decision.reason });
    this.metrics.duration.observe("denied", seconds);
    return toCheckResponse(decision, this.settings);
  }
}

const unavailable: Decision = {
  allowed: false,
  reason: "UNAVAILABLE",
  message: "the key service is temporarily unavailable",
  retryAfterSeconds: 1,
};

/**
 * Envoy sends headers as a map (lower-case names, repeats merged with ","), or, with
 * encode_raw_headers, as a list of raw values in `header_map` that we merge the same way. From the
 * whole decoded message: the protobufjs fallback, and what readCheckInput is held to.
 */
export function toCheckInput(request: CheckRequest__Output): CheckInput {
  const attributes = request.attributes;
  const http = attributes?.request?.http;
  let headers: Record<string, string> = http?.headers ?? {};
  const raw = http?.header_map?.headers;
  if (Object.keys(headers).length === 0 && raw && raw.length > 0) {
    headers = {};
    for (const h of raw) {
      const name = (h.key ?? "").toLowerCase();
      const value = h.raw_value && h.raw_value.length > 0 ? h.raw_value.toString("utf8") : (h.value ?? "");
      headers[name] = name in headers ? `${headers[name]},${value}` : value;
    }
  }
  const cost = attributes?.context_extensions?.cost;
  const input: CheckInput = {
    header: (name) => (Object.hasOwn(headers, name) ? headers[name] : undefined),
    requiredScopes: parseScopes(attributes?.context_extensions?.required_scopes),
  };
  if (cost !== undefined) input.cost = parseCost(cost);
  return input;
}
