import { execFileSync } from "node:child_process";
import { accessSync, constants } from "node:fs";
import { delimiter, join } from "node:path";

/**
 * The independent implementations the interop tests drive, each with the Debian package that
 * installs it (.ci/run installs them all). A missing one fails the test with that package's name.
 */
const TOOLS = {
  nghttp: "nghttp2-client",
  h2load: "nghttp2-client",
  nghttpx: "nghttp2-proxy",
} as const;

/** Debian's Python, whose grpc module is python3-grpcio (gRPC's C core). */
export const PYTHON = "/usr/bin/python3";

/** The full path of an nghttp2 program; throws naming its Debian package when it is not installed. */
export function tool(name: keyof typeof TOOLS): string {
  // nghttpx is installed in /usr/sbin, which is not on every user's PATH.
  const dirs = [...(process.env.PATH ?? "").split(delimiter), "/usr/sbin", "/usr/bin"];
  for (const dir of dirs) {
    const path = join(dir, name);
    try {
      accessSync(path, constants.X_OK);
      return path;
    } catch {}
  }
  throw new Error(`${name} not found: install Debian's ${TOOLS[name]} (apt-get install ${TOOLS[name]})`);
}

/** Throws naming python3-grpcio when Debian's Python or its grpc module is missing. */
export function requirePythonGrpc(): void {
  try {
    execFileSync(PYTHON, ["-c", "import grpc"], { stdio: "pipe" });
  } catch (err) {
    const detail = err instanceof Error ? err.message.split("\n").slice(-2).join(" ") : String(err);
    throw new Error(
      `${PYTHON} cannot import grpc: install Debian's python3-grpcio (apt-get install python3-grpcio); ${detail}`,
    );
  }
}
