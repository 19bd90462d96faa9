/** One `NAME=value` line of an env file; `commented` when it is written `# NAME=value`. */
export interface EnvEntry {
  name: string;
  value: string;
  commented: boolean;
  line: number;
}

const ENTRY = /^(#\s*)?([A-Z][A-Z0-9_]*)=(.*)$/;

/**
 * Reads an env file the way .env.example is written: `NAME=value` sets a variable, `# NAME=value`
 * documents one (its default, or an example), every other line is prose.
 */
export function parseEnvFile(text: string): EnvEntry[] {
  const entries: EnvEntry[] = [];
  text.split(/\r?\n/).forEach((raw, i) => {
    const match = ENTRY.exec(raw.trim());
    if (match?.[2] !== undefined) {
      entries.push({ name: match[2], value: match[3] ?? "", commented: match[1] !== undefined, line: i + 1 });
    }
  });
  return entries;
}
