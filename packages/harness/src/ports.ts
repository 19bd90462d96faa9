import { readdirSync, readFileSync, readlinkSync } from "node:fs";
import { createServer, Socket } from "node:net";

/**
 * A TCP port on 127.0.0.1 that nothing listens on right now, for a process started later to bind;
 * from [range.from, range.to) when given.
 * Picked below the kernel's ephemeral range: a port the kernel hands out (a client's connection, a
 * server on port 0) comes from that range, and one of those took a port chosen the kernel's way in
 * the seconds before the process bound it (EADDRINUSE in a test running beside others).
 */
export async function freePort(range?: { from: number; to: number }): Promise<number> {
  const [low] = ephemeralRange();
  const from = range?.from ?? Math.max(1_024, low - 12_000);
  const to = range?.to ?? low;
  for (let attempt = 0; attempt < 50; attempt++) {
    const port = from + Math.floor(Math.random() * (to - from));
    if (await bindable(port)) return port;
  }
  return listenAndClose(0);
}

/** The kernel's ephemeral port range (Linux); the usual default elsewhere. */
function ephemeralRange(): [number, number] {
  try {
    const [low, high] = readFileSync("/proc/sys/net/ipv4/ip_local_port_range", "utf8")
      .trim()
      .split(/\s+/)
      .map(Number);
    if (low && high && low > 1_024) return [low, high];
  } catch {
    // Not Linux: the IANA range.
  }
  return [49_152, 65_535];
}

function bindable(port: number): Promise<boolean> {
  return listenAndClose(port).then(
    () => true,
    () => false,
  );
}

function listenAndClose(port: number): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once("error", reject);
    server.listen(port, "127.0.0.1", () => {
      const address = server.address();
      const bound = typeof address === "object" && address ? address.port : 0;
      server.close(() => resolve(bound));
    });
  });
}

/** True once something accepts a TCP connection on `host:port`. */
export function portOpen(port: number, host = "127.0.0.1", timeoutMs = 500): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = new Socket();
    const done = (open: boolean) => {
      socket.destroy();
      resolve(open);
    };
    socket.setTimeout(timeoutMs, () => done(false));
    socket.once("error", () => done(false));
    socket.connect(port, host, () => done(true));
  });
}

/** True once `url` answers with `status` (a health or readiness endpoint). */
export async function httpAnswers(url: string, status = 200, timeoutMs = 2_000): Promise<boolean> {
  try {
    const res = await fetch(url, { signal: AbortSignal.timeout(timeoutMs) });
    await res.arrayBuffer();
    return res.status === status;
  } catch {
    return false;
  }
}

/** Local ports of the TCP connections `pid` holds to `remotePort`, read from /proc. */
export function tcpLocalPortsTo(pid: number, remotePort: number): number[] {
  const inodes = new Set<string>();
  let fds: string[];
  try {
    fds = readdirSync(`/proc/${pid}/fd`);
  } catch {
    return [];
  }
  for (const fd of fds) {
    try {
      const target = readlinkSync(`/proc/${pid}/fd/${fd}`);
      const match = /^socket:\[(\d+)\]$/.exec(target);
      if (match?.[1]) inodes.add(match[1]);
    } catch {
      // The descriptor closed while we looked.
    }
  }
  const ports: number[] = [];
  for (const table of ["/proc/net/tcp", "/proc/net/tcp6"]) {
    let text: string;
    try {
      text = readFileSync(table, "utf8");
    } catch {
      continue;
    }
    for (const line of text.split("\n").slice(1)) {
      const cols = line.trim().split(/\s+/);
      const local = cols[1];
      const remote = cols[2];
      const inode = cols[9];
      if (!local || !remote || !inode || !inodes.has(inode)) continue;
      if (Number.parseInt(remote.split(":")[1] ?? "", 16) === remotePort) {
        ports.push(Number.parseInt(local.split(":")[1] ?? "", 16));
      }
    }
  }
  return ports;
}
