import { useState } from "preact/hooks";
import { ErrorNote } from "./states.js";

export function MoreButton({ more }: { more: (() => Promise<void>) | null }) {
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<unknown>(null);
  if (!more) return null;
  const load = async () => {
    setBusy(true);
    setError(null);
    try {
      await more();
    } catch (e) {
      setError(e);
    } finally {
      setBusy(false);
    }
  };
  return (
    <div class="more">
      {error ? <ErrorNote error={error} /> : null}
      <button type="button" onClick={load} disabled={busy}>
        {busy ? "Loading…" : "Load more"}
      </button>
    </div>
  );
}
