import http2 from "node:http2";

/** What came back on one raw HTTP/2 stream. */
export interface RawGrpcAnswer {
  httpStatus: number;
  /** From the headers (trailers-only answers) or the trailers; undefined when the server sent none. */
  grpcStatus: number | undefined;
  body: Buffer;
}

/** The request headers of a gRPC call to `path`, as a client that follows the protocol sends them. */
export const grpcHeaders = (path: string) => ({
  ":method": "POST",
  ":path": path,
  "content-type": "application/grpc",
  te: "trailers",
});

/** A 5-byte gRPC message prefix: compressed flag and declared length. */
export function grpcPrefix(length: number, compressed = 0): Buffer {
  const head = Buffer.alloc(5);
  head.writeUInt8(compressed, 0);
  head.writeUInt32BE(length, 1);
  return head;
}

/**
 * One HTTP/2 stream with the given headers and bytes, for sending what no gRPC library would;
 * `end: false` leaves the request side open, as a stalled client would. Resolves once the server has
 * ended its side (trailers, a trailers-only answer or a reset); rejects when that does not happen
 * within the timeout: a hang is a failure.
 */
export function rawGrpcCall(
  session: http2.ClientHttp2Session,
  headers: Record<string, string>,
  body: Buffer,
  options: { end?: boolean; timeoutMs?: number } = {},
): Promise<RawGrpcAnswer> {
  const { end = true, timeoutMs = 3_000 } = options;
  return new Promise((resolve, reject) => {
    const stream = session.request(headers);
    const answer: RawGrpcAnswer = { httpStatus: 0, grpcStatus: undefined, body: Buffer.alloc(0) };
    const chunks: Buffer[] = [];
    const finish = (error?: Error) => {
      clearTimeout(timer);
      if (!stream.closed) stream.close(http2.constants.NGHTTP2_CANCEL);
      answer.body = Buffer.concat(chunks);
      if (error) reject(error);
      else resolve(answer);
    };
    const timer = setTimeout(() => finish(new Error(`no answer within ${timeoutMs} ms`)), timeoutMs);
    const readStatus = (h: http2.IncomingHttpHeaders) => {
      if (h["grpc-status"] !== undefined) answer.grpcStatus = Number(h["grpc-status"]);
    };
    stream.on("response", (h) => {
      answer.httpStatus = Number(h[":status"]);
      readStatus(h);
    });
    stream.on("trailers", readStatus);
    stream.on("data", (chunk: Buffer) => chunks.push(chunk));
    // A reset from the server is an answer too; callers look at what arrived before it.
    stream.on("error", () => {});
    stream.on("end", () => finish());
    stream.on("close", () => finish());
    if (body.length > 0) stream.write(body);
    if (end) stream.end();
  });
}

/**
 * A gRPC call to `path` with extra header fields, repeats included (a repeated name is sent as
 * several fields): what a hostile client puts beside the protocol's own headers. The gRPC status
 * the server answered, or undefined when the call could not be made or was reset.
 */
export async function callWithFields(
  session: http2.ClientHttp2Session,
  path: string,
  fields: readonly (readonly [string, string])[],
  body: Buffer,
): Promise<number | undefined> {
  const headers: Record<string, string | string[]> = { ...grpcHeaders(path) };
  for (const [name, value] of fields) {
    const existing = headers[name];
    headers[name] = existing === undefined ? value : [...([] as string[]).concat(existing), value];
  }
  const answer = await rawGrpcCall(session, headers as Record<string, string>, body).catch(() => undefined);
  return answer?.grpcStatus;
}
