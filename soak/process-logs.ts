import type { ErrorLog } from "./results.js";

const LEVELS: Record<number, string> = { 40: "a warning", 50: "an error", 60: "a fatal error" };

/**
 * The services run at LOG_LEVEL=warn, so every line they write is a problem worth counting: by
 * process and message (pino JSON), or as unstructured output (a stack trace, a Node warning).
 */
export function recordLogLines(errors: ErrorLog, process: string, lines: readonly string[]): void {
  for (const line of lines) {
    let entry: { level?: number; msg?: string; time?: string | number } | undefined;
    try {
      entry = JSON.parse(line) as typeof entry;
    } catch {
      entry = undefined;
    }
    if (entry && typeof entry.level === "number") {
      const level = LEVELS[entry.level] ?? `level ${entry.level}`;
      const at = new Date(entry.time ?? Date.now()).getTime() || Date.now();
      errors.add(`${process} logged ${level}: ${entry.msg ?? "(no message)"}`, line.slice(0, 300), 1, at);
    } else {
      errors.add(`${process} wrote unstructured output`, line.slice(0, 300));
    }
  }
}
