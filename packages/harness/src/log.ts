/** Progress for the person running a benchmark or soak; the figures go to its report. */
export function log(message: string): void {
  process.stdout.write(`${message}\n`);
}
