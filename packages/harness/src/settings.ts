/** An integer setting from the environment, bounded; a clear error names the variable otherwise. */
export function integerSetting(name: string, fallback: number, min: number, max: number): number {
  const raw = process.env[name];
  if (raw === undefined || raw === "") return fallback;
  const value = Number(raw);
  if (!Number.isInteger(value) || value < min || value > max) {
    throw new Error(`${name} must be an integer from ${min} to ${max} (got "${raw}")`);
  }
  return value;
}

/** Benchmarks send traffic to loopback only, whatever they are pointed at. */
export function loopbackUrl(name: string, fallback: string): string {
  const url = new URL(process.env[name] || fallback);
  if (!["127.0.0.1", "localhost", "[::1]"].includes(url.hostname)) {
    throw new Error(
      `${name} must point at 127.0.0.1 (got ${url.hostname}): the benchmark stays on this machine`,
    );
  }
  return url.toString();
}
