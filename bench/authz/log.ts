/** Progress for the person running the benchmark; the figures go to the report. */
export function log(message: string): void {
  process.stdout.write(`${message}\n`);
}
