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

/**
 * The fields an HTTP/2 server is handed of those a client sent: RFC 9113 §8.2.1 makes a value with
 * leading or trailing whitespace malformed, and nghttp2 (node's HTTP/2) drops such a field.
 */
export const deliveredFields = (fields: readonly (readonly [string, string])[]) =>
  fields.filter(([, v]) => v === v.trim());

/**
 * Up to three header fields a caller without the token might send: the token header repeated, its
 * -bin twin or look-alike names, holding look-alikes or the token itself; never the one combination
 * that passes, which is exactly one delivered `header` field holding the token.
 */
export function hostileTokenFields(
  token: string,
  header: string,
  maxLength: number,
): fc.Arbitrary<(readonly [string, string])[]> {
  const names = [header, header, `${header}-bin`, `${header}s`, header.replace(/^x-/, "")];
  return fc
    .array(
      fc.tuple(fc.constantFrom(...names), fc.oneof(tokenLookalikes(token, maxLength), fc.constant(token))),
      {
        maxLength: 3,
      },
    )
    .filter((fields) => {
      const delivered = deliveredFields(fields).filter(([n]) => n === header);
      return !(delivered.length === 1 && delivered[0]?.[1] === token);
    });
}
