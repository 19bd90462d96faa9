/**
 * The Node flags api-key-service runs with, wherever it is started: its image's CMD, `pnpm start`,
 * `pnpm stack` and the benchmarks pass these (envoy/test/dockerfiles.test.ts holds the Dockerfile and
 * the package.json scripts to this list).
 *
 * `--min-semi-space-size=16` (MB): V8 sizes the young generation to the allocation rate and shrinks it
 * to 1 MB after a quiet spell. Traffic that returns after one then finds it small: it is collected
 * every ~15 ms, so the objects of checks still in flight survive twice and are promoted, the old
 * generation fills with them, and full collections come during the load. Measured at 5,000 checks/s
 * after 20 s idle (docs/PERFORMANCE.md): ~100 scavenges, 500-750 promoted bytes per check and 2-3 full
 * collections in 12 s (p99 9-17 ms, p99.9 23-43 ms) without the flag; ~50 scavenges, ~100 bytes per
 * check and none with it (p99 7.2 ms, p99.9 9.5-11.5 ms). It costs at most 32 MB of memory that is
 * there anyway under load. NODE_OPTIONS does not accept this flag, hence the command line.
 *
 * `--no-memory-reducer`: after a quiet spell V8's memory reducer runs full collections to shrink the
 * heap, and from then on lets the old generation grow only ~1.2-1.3× past what is live until the
 * heap has grown again by 10 MB, which a busy service whose live set stays put never does: every
 * ~12-15 MB promoted brings a full collection (8-17 ms of pause and 40-70 ms of marking steps on the
 * main thread). Measured (docs/PERFORMANCE.md): a service that served 10,000 keys closed loop and
 * then sat idle 40 s made 4 full collections in 12 s at 12,000 checks/s, p99 22.5 ms, against none
 * and 7.3 ms with the flag; in the whole benchmark's tail section 4 against none, p99 at 12,000/s
 * 20.0 against 6.3 ms. The heap is still bounded as under load (a full collection when it reaches
 * its limit); it is only not shrunk while idle.
 */
export const SERVICE_NODE_FLAGS: readonly string[] = ["--min-semi-space-size=16", "--no-memory-reducer"];
