import { writeFile } from "node:fs/promises";
import { join } from "node:path";
import { tool } from "./tools.js";
import { freePort, portOpen, startProcess } from "./workspace.js";

export interface Nghttpx {
  /** Its plaintext HTTP/2 frontend on 127.0.0.1. */
  port: number;
  /** Its log (errors, and one access-log line per request). */
  output(): string;
  /** Requests to `path` it has answered so far, from its access log. */
  requests(path: string): number;
  stop(): Promise<void>;
}

/**
 * nghttpx (Debian's nghttp2-proxy) as a plaintext HTTP/2 reverse proxy in front of an HTTP/2
 * server on 127.0.0.1:`backendPort`, in one process, with its files in `dir` and, when started by
 * root, running as nobody.
 */
export async function startNghttpx(backendPort: number, dir: string): Promise<Nghttpx> {
  const port = await freePort();
  // nghttpx reads /etc/nghttpx/nghttpx.conf unless given another file: an empty one of our own.
  const conf = join(dir, "nghttpx.conf");
  await writeFile(conf, "");
  const answered = new Map<string, number>();
  const proxy = startProcess({
    name: "nghttpx",
    command: tool("nghttpx"),
    args: [
      `--conf=${conf}`,
      `--frontend=127.0.0.1,${port};no-tls`,
      `--backend=127.0.0.1,${backendPort};;proto=h2`,
      "--single-process",
      "--workers=1",
      "--errorlog-file=/dev/stderr",
      "--accesslog-file=/dev/stdout",
      ...(process.getuid?.() === 0 ? ["--user=nobody"] : []),
    ],
    missing: "install Debian's nghttp2-proxy (apt-get install nghttp2-proxy)",
    onLine: (line) => {
      // The access log's request field: "POST /path HTTP/2".
      const path = /"POST (\S+) HTTP\/2"/.exec(line)?.[1];
      if (path) answered.set(path, (answered.get(path) ?? 0) + 1);
    },
  });
  await proxy.waitUntilReady(() => portOpen(port), 10_000);
  return {
    port,
    output: () => proxy.output(),
    requests: (path) => answered.get(path) ?? 0,
    stop: async () => {
      await proxy.stop("SIGTERM", 5_000);
    },
  };
}
