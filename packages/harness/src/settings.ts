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

/**
 * A program's command line: `--help` prints `help` and exits; `--<flag> <value>` (or `=value`) for
 * each flag in `choices`, its value one of those listed. Anything else is refused, naming it, and
 * the program exits 2 before it has started or changed anything.
 */
export function readFlags<F extends string>(
  help: string,
  choices: Record<F, readonly string[]>,
  argv: readonly string[] = process.argv.slice(2),
): Partial<Record<F, string>> {
  const flags: Partial<Record<F, string>> = {};
  const refuse = (message: string): never => {
    process.stderr.write(`${message}\n\n${help.trim()}\n`);
    process.exit(2);
  };
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i] ?? "";
    if (arg === "--help" || arg === "-h") {
      process.stdout.write(`${help.trim()}\n`);
      process.exit(0);
    }
    const match = /^--([a-z-]+)(?:=(.*))?$/.exec(arg);
    const name = match?.[1] as F | undefined;
    if (!name || !Object.hasOwn(choices, name)) refuse(`unknown argument "${arg}"`);
    const flag = name as F;
    const value = match?.[2] ?? argv[++i];
    if (value === undefined || !choices[flag].includes(value)) {
      refuse(
        `--${flag} takes one of: ${choices[flag].join(", ")} (got ${value === undefined ? "nothing" : `"${value}"`})`,
      );
    }
    flags[flag] = value;
  }
  return flags;
}
