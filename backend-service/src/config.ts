export class ConfigError extends Error {
  override name = "ConfigError";
}

export interface Config {
  PORT: number;
  HOST: string;
}

/**
 * Reads PORT (default 3000) and HOST (default 0.0.0.0) once at start. A blank value counts as unset,
 * as in the other services; a bad one stops the process with a message naming the variable.
 */
export function loadConfig(env: NodeJS.ProcessEnv = process.env): Config {
  const port = readPort(env.PORT, 3000);
  if (port === null) {
    throw new ConfigError(
      `invalid configuration:\n  PORT: must be a whole number from 0 to 65535 (got ${JSON.stringify(env.PORT)})`,
    );
  }
  return { PORT: port, HOST: env.HOST?.trim() || "0.0.0.0" };
}

function readPort(text: string | undefined, fallback: number): number | null {
  if (text === undefined || text.trim() === "") return fallback;
  if (!/^\d{1,5}$/.test(text.trim())) return null;
  const port = Number(text.trim());
  return port <= 65535 ? port : null;
}
