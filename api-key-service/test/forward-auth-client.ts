import { request } from "node:http";

export interface ForwardAuthAnswer {
  status: number;
  /** Response headers by lower-case name (repeats joined with ", ", as node does). */
  headers: Record<string, string | undefined>;
  /** The parsed JSON body, or undefined when there is none. */
  body: any;
  text: string;
}

export interface ForwardAuthRequest {
  method?: string;
  /** The request target, default /v1/forward-auth. */
  path?: string;
  /** Headers as sent, in order: a name may repeat. */
  headers?: [string, string][];
  body?: string | Buffer;
}

/**
 * One request to the forward-auth endpoint, as a gateway sends it, on a connection of its own: raw
 * header pairs (repeats stay repeats), any method and request target.
 */
export function forwardAuth(baseUrl: string, options: ForwardAuthRequest = {}): Promise<ForwardAuthAnswer> {
  const url = new URL(baseUrl);
  const given = options.headers ?? [];
  const headers = (
    given.some(([name]) => name.toLowerCase() === "host") ? given : [["Host", url.host], ...given]
  ).flat();
  if (options.body !== undefined) headers.push("content-length", String(Buffer.byteLength(options.body)));
  return new Promise((resolve, reject) => {
    const req = request(
      {
        host: url.hostname,
        port: url.port,
        method: options.method ?? "GET",
        path: options.path ?? "/v1/forward-auth",
        headers,
        agent: false,
        // The answer is asserted, not a timing: generous on a loaded machine.
        timeout: 5_000,
      },
      (res) => {
        const chunks: Buffer[] = [];
        res.on("data", (chunk: Buffer) => chunks.push(chunk));
        res.on("error", reject);
        res.on("end", () => {
          const text = Buffer.concat(chunks).toString("utf8");
          const flat: Record<string, string | undefined> = {};
          for (const [name, value] of Object.entries(res.headers))
            flat[name] = Array.isArray(value) ? value.join(", ") : value;
          const json = (res.headers["content-type"] ?? "").includes("json") && text !== "";
          resolve({
            status: res.statusCode ?? 0,
            headers: flat,
            body: json ? JSON.parse(text) : undefined,
            text,
          });
        });
      },
    );
    req.on("timeout", () => req.destroy(new Error("forward-auth: no answer within 5 s")));
    req.on("error", reject);
    req.end(options.body);
  });
}

export const bearerHeader = (secret: string): [string, string] => ["Authorization", `Bearer ${secret}`];
