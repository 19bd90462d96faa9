import { useEffect, useState } from "preact/hooks";
import { Access } from "./access.js";
import { ApiError, SIGNED_OUT, session } from "./api.js";
import { AuditPage } from "./pages/audit.js";
import { KeysPage } from "./pages/keys.js";
import { OverviewPage } from "./pages/overview.js";
import { PlansPage } from "./pages/plans.js";
import { SignIn } from "./pages/sign-in.js";
import { UsersPage } from "./pages/users.js";
import { WebhooksPage } from "./pages/webhooks.js";
import { href, navigate, usePlace } from "./router.js";
import { probeScopes, type Scope } from "./scopes.js";
import { Link } from "./ui/link.js";
import { ErrorNote, Loading } from "./ui/states.js";

const PAGES = [
  { page: "overview", title: "Overview", scope: "usage:read", view: OverviewPage },
  { page: "users", title: "Users", scope: "users:read", view: UsersPage },
  { page: "keys", title: "Keys", scope: "keys:read", view: KeysPage },
  { page: "plans", title: "Plans", scope: "plans:read", view: PlansPage },
  { page: "webhooks", title: "Webhooks", scope: "webhooks:read", view: WebhooksPage },
  { page: "audit", title: "Audit log", scope: "audit:read", view: AuditPage },
] as const;

type Signed = { state: "out" } | { state: "checking" } | { state: "in"; scopes: Set<Scope> };

export function App() {
  const place = usePlace();
  const [signed, setSigned] = useState<Signed>(() =>
    session.token() ? { state: "checking" } : { state: "out" },
  );
  const [error, setError] = useState<unknown>(null);

  // After a reload the credential is still in this tab; its scopes are read again.
  useEffect(() => {
    const token = session.token();
    if (signed.state !== "checking" || !token) return;
    probeScopes(token).then(
      (scopes) => setSigned({ state: "in", scopes }),
      (e) => {
        session.clear();
        setError(e);
        setSigned({ state: "out" });
      },
    );
  }, [signed.state]);

  useEffect(() => {
    const ended = () => {
      setError(new ApiError(401, "The credential is no longer valid (revoked or expired): sign in again."));
      setSigned({ state: "out" });
    };
    addEventListener(SIGNED_OUT, ended);
    return () => removeEventListener(SIGNED_OUT, ended);
  }, []);

  const visible = signed.state === "in" ? PAGES.filter((p) => signed.scopes.has(p.scope)) : [];
  const active = visible.find((p) => p.page === place.page) ?? visible[0];
  useEffect(() => {
    document.title = active ? `${active.title} · API key gateway console` : "API key gateway console";
  }, [active]);

  if (signed.state === "checking") return <Loading what="your access" />;
  if (signed.state === "out") {
    return (
      <>
        {error ? <ErrorNote error={error} /> : null}
        <SignIn
          onSignedIn={(token, scopes) => {
            session.save(token);
            setError(null);
            setSigned({ state: "in", scopes });
            navigate(href(visiblePages(scopes)[0]?.page ?? ""));
          }}
        />
      </>
    );
  }

  const signOut = () => {
    session.clear();
    setSigned({ state: "out" });
  };
  const View = active?.view;
  return (
    <Access.Provider value={signed.scopes}>
      <a class="skip" href="#main">
        Skip to content
      </a>
      <header class="top">
        <span class="brand">Gateway console</span>
        <nav aria-label="Pages">
          <ul>
            {visible.map((p) => (
              <li key={p.page}>
                <Link to={href(p.page)} current={p === active}>
                  {p.title}
                </Link>
              </li>
            ))}
          </ul>
        </nav>
        <button type="button" class="plain" onClick={signOut}>
          Sign out
        </button>
      </header>
      <main id="main" tabIndex={-1}>
        {View ? (
          <View params={place.params} />
        ) : (
          <p class="state">This credential holds no scope the console can show.</p>
        )}
      </main>
    </Access.Provider>
  );
}

const visiblePages = (scopes: Set<Scope>) => PAGES.filter((p) => scopes.has(p.scope));
