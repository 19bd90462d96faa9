import fc from "fast-check";

/**
 * Values a client could put in a token header instead of the one right value: prefixes, extensions,
 * one character changed, padding, another scheme, another case; printable and high latin1 text
 * (what node's HTTP/2 client lets through); and very long values up to `maxLength`.
 */
export function tokenLookalikes(token: string, maxLength: number): fc.Arbitrary<string> {
  const nearMiss = fc.oneof(
    fc.nat({ max: token.length - 1 }).map((n) => token.slice(0, n)),
    fc.string({ minLength: 1, maxLength: 4 }).map((s) => token + s),
    fc.string({ minLength: 1, maxLength: 4 }).map((s) => s + token),
    fc
      .tuple(fc.nat({ max: token.length - 1 }), fc.constantFrom("0", "A", "-", " ", "\u00ff"))
      .map(([at, c]) => token.slice(0, at) + c + token.slice(at + 1))
      .filter((v) => v !== token),
    fc.constantFrom(` ${token}`, `${token} `, `Bearer ${token}`, token.toUpperCase()),
  );
  const latin1 = fc.string({
    unit: fc
      .oneof(fc.integer({ min: 0x20, max: 0x7e }), fc.integer({ min: 0x80, max: 0xff }))
      .map((c) => String.fromCharCode(c)),
    maxLength: 40,
  });
  return fc.oneof(
    { weight: 3, arbitrary: nearMiss },
    { weight: 3, arbitrary: latin1 },
    { weight: 1, arbitrary: fc.nat({ max: maxLength }).map((n) => "t".repeat(n)) },
  );
}
