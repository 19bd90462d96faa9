import { useState } from "preact/hooks";
import { ApiError } from "../api.js";
import { probeScopes, type Scope } from "../scopes.js";

export function SignIn({ onSignedIn }: { onSignedIn: (token: string, scopes: Set<Scope>) => void }) {
  const [token, setToken] = useState("");
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<string | null>(null);

  const submit = async (event: Event) => {
    event.preventDefault();
    const value = token.trim();
    if (!value) return setError("Enter a management key (gwm_…) or the admin token.");
    setBusy(true);
    setError(null);
    try {
      const scopes = await probeScopes(value);
      onSignedIn(value, scopes);
    } catch (e) {
      setBusy(false);
      if (e instanceof ApiError && e.status === 401)
        setError("This key is not valid: check it and try again.");
      else if (e instanceof ApiError && e.status === 429) setError(`Too many failed attempts: ${e.message}`);
      else setError(e instanceof ApiError ? e.message : String(e));
    }
  };

  return (
    <main class="sign-in">
      <h1>API key gateway console</h1>
      <form onSubmit={submit} aria-describedby="sign-in-help">
        <label for="token">Management key or admin token</label>
        <input
          id="token"
          type="password"
          autoComplete="off"
          value={token}
          onInput={(e) => setToken(e.currentTarget.value)}
          aria-invalid={error ? "true" : undefined}
          aria-describedby={error ? "sign-in-error" : undefined}
        />
        <p id="sign-in-help" class="hint">
          Kept in this tab only (sessionStorage) and sent to this server alone. What you can see and do
          follows the key's scopes.
        </p>
        {error && (
          <p id="sign-in-error" class="state error" role="alert">
            {error}
          </p>
        )}
        <button type="submit" disabled={busy}>
          {busy ? "Signing in…" : "Sign in"}
        </button>
      </form>
    </main>
  );
}
