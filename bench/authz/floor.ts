/**
 * The floor: nghttpd, nghttp2's HTTP/2 server in C, answering every Check with the same bytes a
 * gRPC server would send for an allowed check: a static file holding a gRPC-framed
 * CheckResponse{status{code:0}} (5-byte prefix + message), then the trailer `grpc-status: 0`. What
 * any HTTP/2 server written in C answers on this machine, with no work per call beyond HTTP/2.
 * One worker thread (`--workers=1`), as the service runs its checks on one event loop.
 */
import { mkdirSync, writeFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { freePort, portOpen, startProcess } from "@gateway/harness";
import { AUTHORIZATION_CHECK_PATH } from "@gateway/proto";
import { encodeAllowedResponse } from "./check-request.js";
import type { Target } from "./launch.js";

export const FLOOR_WORKERS = 1;

export async function startFloor(nghttpdPath: string, workDir: string): Promise<Target> {
  const docroot = join(workDir, "floor");
  const file = join(docroot, AUTHORIZATION_CHECK_PATH);
  mkdirSync(dirname(file), { recursive: true });
  writeFileSync(file, encodeAllowedResponse());
  const port = await freePort();
  const server = startProcess({
    name: "nghttpd",
    command: nghttpdPath,
    args: [
      "--no-tls",
      `--htdocs=${docroot}`,
      "--trailer=grpc-status: 0",
      `--workers=${FLOOR_WORKERS}`,
      "--address=127.0.0.1",
      String(port),
    ],
    missing: "install Debian's nghttp2-server package",
  });
  await server.waitUntilReady(() => portOpen(port), 10_000);
  return { pid: server.pid, grpcPort: port, stop: () => server.stop() };
}
