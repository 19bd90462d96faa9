import { createContext } from "preact";
import { useContext } from "preact/hooks";
import type { Scope } from "./scopes.js";

/** The signed-in credential's scopes; pages leave out what it cannot do. */
export const Access = createContext<ReadonlySet<Scope>>(new Set());

export function useCan(): (scope: Scope) => boolean {
  const scopes = useContext(Access);
  return (scope) => scopes.has(scope);
}
