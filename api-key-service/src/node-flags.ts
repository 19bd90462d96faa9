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
 * Not `--no-memory-reducer`: it kept the full collections V8's memory reducer brings after a quiet
 * spell out of a hot key's paced checks (12,000/s: 4 in 12 s against none, p99 20.0 against 6.3 ms),
 * but in both soak pairs over 20,000 keys the service failed more checks with it (Redis timeouts
 * after stalls: 23,674 and 7,916 against 1,099 and 2,910) and held 25-30 MiB more (docs/PERFORMANCE.md).
 */
export const SERVICE_NODE_FLAGS: readonly string[] = ["--min-semi-space-size=16"];
