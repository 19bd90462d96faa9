/**
 * The floor: what Node's HTTP stack alone costs. A node:http server that reads each request's body
 * and answers 200 with the fixed JSON body given in argv[2] (the service's own answer, so the bytes
 * on the wire match). Prints `{"port":N}` on stdout once bound.
 */
import { createServer } from "node:http";

const body = Buffer.from(process.argv[2] ?? "{}");
const headers = { "content-type": "application/json; charset=utf-8", "content-length": body.length };

const server = createServer((req, res) => {
  // The service reads and parses every body before it answers; the floor at least reads it.
  req.resume();
  req.on("end", () => {
    res.writeHead(200, headers);
    res.end(body);
  });
});
server.listen(0, "127.0.0.1", () => {
  const address = server.address();
  process.stdout.write(
    `${JSON.stringify({ port: typeof address === "object" && address ? address.port : 0 })}\n`,
  );
});

for (const signal of ["SIGTERM", "SIGINT"] as const) {
  process.once(signal, () => process.exit(0));
}
// The orchestrator owns this process: when it goes away (its stdin closes), so does the server.
process.stdin.on("end", () => process.exit(0));
process.stdin.resume();
