// What Envoy's config loader accepts for a scalar or a well-known type: the proto3 JSON mapping
// (https://protobuf.dev/programming-guides/json/), which Envoy applies to YAML after converting it to JSON.
// Each check returns what is wrong, or null.

const INT_TEXT = /^-?\d+$/;
const UINT_TEXT = /^\d+$/;
const DURATION_TEXT = /^-?\d+(\.\d{1,9})?s$/;
const TIMESTAMP_TEXT = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d{1,9})?(Z|[+-]\d{2}:\d{2})$/;
const BASE64_TEXT = /^[A-Za-z0-9+/_-]*={0,2}$/;

const describe = (value: unknown) =>
  value === null ? "null" : Array.isArray(value) ? "a list" : `${typeof value} ${JSON.stringify(value)}`;

function integer(value: unknown, min: bigint, max: bigint, name: string): string | null {
  let parsed: bigint | null = null;
  if (typeof value === "number" && Number.isInteger(value)) parsed = BigInt(value);
  if (typeof value === "string" && (min < 0n ? INT_TEXT : UINT_TEXT).test(value)) parsed = BigInt(value);
  if (parsed === null) return `expected ${name} (a whole number), got ${describe(value)}`;
  if (parsed < min || parsed > max) return `${value} is out of range for ${name}`;
  return null;
}

const FLOAT_WORDS = ["NaN", "Infinity", "-Infinity"];

function float(value: unknown): string | null {
  if (typeof value === "number") return null;
  if (typeof value === "string" && (FLOAT_WORDS.includes(value) || Number.isFinite(Number(value || "x")))) {
    return null;
  }
  return `expected a number, got ${describe(value)}`;
}

const INT32: [bigint, bigint] = [-(2n ** 31n), 2n ** 31n - 1n];
const UINT32: [bigint, bigint] = [0n, 2n ** 32n - 1n];
const INT64: [bigint, bigint] = [-(2n ** 63n), 2n ** 63n - 1n];
const UINT64: [bigint, bigint] = [0n, 2n ** 64n - 1n];

/** Checks a value against a scalar field type (`string`, `uint32`, `bool`, ...). */
export function checkScalar(value: unknown, type: string): string | null {
  switch (type) {
    case "string":
      return typeof value === "string" ? null : `expected a string, got ${describe(value)}`;
    case "bool":
      return typeof value === "boolean" ? null : `expected true or false, got ${describe(value)}`;
    case "bytes":
      return typeof value === "string" && BASE64_TEXT.test(value)
        ? null
        : `expected base64 text, got ${describe(value)}`;
    case "double":
    case "float":
      return float(value);
    case "int32":
    case "sint32":
    case "sfixed32":
      return integer(value, ...INT32, type);
    case "uint32":
    case "fixed32":
      return integer(value, ...UINT32, type);
    case "int64":
    case "sint64":
    case "sfixed64":
      return integer(value, ...INT64, type);
    case "uint64":
    case "fixed64":
      return integer(value, ...UINT64, type);
    default:
      return `unsupported scalar type ${type}`;
  }
}

const WRAPPERS: Record<string, string> = {
  DoubleValue: "double",
  FloatValue: "float",
  Int64Value: "int64",
  UInt64Value: "uint64",
  Int32Value: "int32",
  UInt32Value: "uint32",
  BoolValue: "bool",
  StringValue: "string",
  BytesValue: "bytes",
};

function splitWellKnown(fullName: string): [boolean, string] {
  const name = fullName.replace(/^\./, "");
  return name.startsWith("google.protobuf.") ? [true, name.slice("google.protobuf.".length)] : [false, name];
}

/**
 * Well-known types whose JSON form is not an object of their fields: the check for the value, or
 * undefined when the type is an ordinary message (Any is handled by the walker, it holds a message).
 */
export function wellKnownCheck(fullName: string): ((value: unknown) => string | null) | undefined {
  const [isWellKnown, name] = splitWellKnown(fullName);
  if (!isWellKnown) return undefined;
  const wrapped = WRAPPERS[name];
  if (wrapped) return (value) => checkScalar(value, wrapped);
  switch (name) {
    case "Duration":
      return (value) =>
        typeof value === "string" && DURATION_TEXT.test(value)
          ? null
          : `expected a duration such as "0.25s" or "5s", got ${describe(value)}`;
    case "Timestamp":
      return (value) =>
        typeof value === "string" && TIMESTAMP_TEXT.test(value)
          ? null
          : `expected an RFC 3339 time, got ${describe(value)}`;
    case "FieldMask":
      return (value) => (typeof value === "string" ? null : `expected a field mask, got ${describe(value)}`);
    case "Struct":
      return (value) =>
        isPlainObject(value) ? null : `expected an object (google.protobuf.Struct), got ${describe(value)}`;
    case "ListValue":
      return (value) => (Array.isArray(value) ? null : `expected a list, got ${describe(value)}`);
    case "Value":
      return () => null;
    default:
      return undefined;
  }
}

export function isPlainObject(value: unknown): value is Record<string, unknown> {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}

export { describe as describeValue };
