import { existsSync, readdirSync } from "node:fs";
import { createRequire } from "node:module";
import { dirname, join } from "node:path";
import { envoyProtoIncludeDirs } from "@gateway/proto";
import type { Enum, Type } from "protobufjs";
import protobuf from "protobufjs";

/** Envoy's v3 protos, with the message types that an Any's `@type` names loaded on demand. */
export interface EnvoyProtos {
  type(fullName: string): Type;
  /** The message type a `type.googleapis.com/...` URL names, or an error saying why there is none. */
  resolveTypeUrl(typeUrl: string): Type | { error: string };
}

export const BOOTSTRAP_TYPE = "envoy.config.bootstrap.v3.Bootstrap";

/**
 * The directories imports are looked up in: Envoy's published protos (as vendored by @grpc/grpc-js-xds),
 * then protobufjs's own copy of google/protobuf/descriptor.proto, which the annotations import and
 * protobufjs does not bundle.
 */
function includeDirs(): string[] {
  const require = createRequire(import.meta.url);
  return [...envoyProtoIncludeDirs(), dirname(require.resolve("protobufjs/package.json"))];
}

export function loadEnvoyProtos(): EnvoyProtos {
  const dirs = includeDirs();
  const root = new protobuf.Root();
  root.resolvePath = (_origin, target) => {
    for (const dir of dirs) {
      const candidate = join(dir, target);
      if (existsSync(candidate)) return candidate;
    }
    // protobufjs serves the common google/protobuf files itself; anything else fails to load, naming it.
    return target;
  };
  const load = (files: string[]) => {
    root.loadSync(files, { keepCase: true });
    root.resolveAll();
  };
  load(["envoy/config/bootstrap/v3/bootstrap.proto"]);

  const loadedPackages = new Set<string>();
  /** Loads every .proto in the directory of a package (`a.b.v3` → `a/b/v3/*.proto`); false if none. */
  const loadPackage = (pkg: string): boolean => {
    if (loadedPackages.has(pkg)) return false;
    loadedPackages.add(pkg);
    const relative = pkg.split(".").join("/");
    for (const dir of dirs) {
      const folder = join(dir, relative);
      if (!existsSync(folder)) continue;
      const files = readdirSync(folder)
        .filter((f) => f.endsWith(".proto"))
        .map((f) => `${relative}/${f}`);
      if (files.length === 0) continue;
      load(files);
      return true;
    }
    return false;
  };

  const lookupType = (fullName: string): Type | null => {
    const found = root.lookup(fullName);
    return found instanceof protobuf.Type ? found : null;
  };

  return {
    type(fullName) {
      const found = lookupType(fullName);
      if (!found) throw new Error(`no message type ${fullName} in Envoy's protos`);
      return found;
    },
    resolveTypeUrl(typeUrl) {
      const slash = typeUrl.lastIndexOf("/");
      const fullName = typeUrl.slice(slash + 1);
      if (slash < 0 || !/^[A-Za-z_][\w.]*$/.test(fullName)) {
        return { error: `"${typeUrl}" is not a type URL (type.googleapis.com/<message type>)` };
      }
      const parts = fullName.split(".");
      // The package is some prefix of the name (the rest may be nested messages): try the longest first.
      for (let i = parts.length - 1; i > 0 && !lookupType(fullName); i--) {
        try {
          loadPackage(parts.slice(0, i).join("."));
        } catch (err) {
          return { error: `the protos for ${typeUrl} do not load: ${(err as Error).message}` };
        }
      }
      return lookupType(fullName) ?? { error: `no message type ${fullName} in Envoy's protos` };
    },
  };
}

export function isEnum(value: unknown): value is Enum {
  return value instanceof protobuf.Enum;
}

export function isMessageType(value: unknown): value is Type {
  return value instanceof protobuf.Type;
}
