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
 * `--heap-growing-percent=100`: after each full collection V8 lets the old generation grow to twice
 * what survived it, whatever the load. Left to itself V8 picks the factor from its collector's speed
 * against the allocation rate: under steady, moderate traffic (a hot key's 5,000-12,000 checks/s) it
 * chose ~1.1-1.3, so the old generation filled again after a few MB promoted and a full collection
 * (10 ms pause, and slower scavenges while it marks) came every second or two; under heavy traffic
 * it grows the heap up to four times. Measured (docs/PERFORMANCE.md), a hot key at 12,000/s, three
 * runs with the flag against four without: 0 full collections in 12 s against 3-4, p99 5.1-5.8
 * against 8.5-13.9 ms, p99.9 6.9-7.5 against 17.9-35.7 ms; the soak over 20,000 keys at 10,000/s
 * held 265 MiB flat with no failed check after the warm-up, against 350 → 377 MiB and 171 failed.
 *
 * `--no-allocation-site-pretenuring`: V8 watches the objects each object or array literal creates, and
 * when nearly all of one literal's objects survive a young-generation collection it creates them in
 * the old generation from then on, for the life of the process. Objects made there die only at a
 * full collection, and until then keep every young object they point to alive. A replica whose
 * first traffic was a hot key paced at 12,000/s got there in 7 of 7 runs (at the first collection under
 * load, every one of the ~600 objects some of the check's literals had made survived): 1.8-2.0 MB promoted
 * per scavenge (~900 bytes a check), scavenges of 3-5 ms, a full collection every ~2 s, p99 11.3 ms;
 * with the flag, 3 of 3 runs: ~86 KB, 1.8-1.9 ms, none in the window, p99 4.2-5.4 ms
 * (docs/PERFORMANCE.md). A replica that met full load first did not (2 runs each way, the same).
 *
 * Not `--no-memory-reducer`: it kept the full collections V8's memory reducer brings after a quiet
 * spell out of a hot key's paced checks (12,000/s: 4 in 12 s against none, p99 20.0 against 6.3 ms),
 * but in both soak pairs over 20,000 keys the service failed more checks with it (Redis timeouts
 * after stalls: 23,674 and 7,916 against 1,099 and 2,910) and held 25-30 MiB more (docs/PERFORMANCE.md).
 */
export const SERVICE_NODE_FLAGS: readonly string[] = [
  "--min-semi-space-size=16",
  "--heap-growing-percent=100",
  "--no-allocation-site-pretenuring",
];
