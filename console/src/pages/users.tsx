import { useState } from "preact/hooks";
import { useCan } from "../access.js";
import { call } from "../api.js";
import { href } from "../router.js";
import { KEY_STATUSES, type Page, type Plan, type Quota, type UserSummary } from "../types.js";
import { Dialog } from "../ui/dialog.js";
import { Field, formatNumber, text, useSubmit } from "../ui/form.js";
import { Link } from "../ui/link.js";
import { MoreButton } from "../ui/more.js";
import { usePaged } from "../ui/paged.js";
import { DataTable, Empty, ErrorNote, Loading } from "../ui/states.js";
import { Time } from "../ui/time.js";
import { useLoad } from "../ui/use-load.js";

export function UsersPage(_: { params: URLSearchParams }) {
  const can = useCan();
  const [search, setSearch] = useState("");
  const [editing, setEditing] = useState<UserSummary | null>(null);
  const { loaded, more, reload } = usePaged<UserSummary>("/api/users", { limit: 50 });
  const [lookedUp, setLookedUp] = useState<{ id: string; user: UserSummary | null; error?: unknown } | null>(
    null,
  );
  const needle = search.trim().toLowerCase();
  const filtered =
    loaded.state === "ready"
      ? loaded.data.filter(
          (u) =>
            !needle ||
            u.user_id.toLowerCase().includes(needle) ||
            (u.stripe_customer_id ?? "").toLowerCase().includes(needle) ||
            (u.plan_id ?? "").includes(needle),
        )
      : [];
  // The list is read a page at a time; an exact user id not among the loaded ones is asked for.
  const extra =
    lookedUp?.user && lookedUp.id === search.trim() && !filtered.some((u) => u.user_id === lookedUp.id);
  const rows = extra && lookedUp?.user ? [...filtered, lookedUp.user] : filtered;
  const lookUp = async (event: Event) => {
    event.preventDefault();
    const id = search.trim();
    if (!id || filtered.some((u) => u.user_id === id)) return;
    try {
      setLookedUp({ id, user: await call<UserSummary>("GET", `/api/users/${encodeURIComponent(id)}`) });
    } catch (error) {
      setLookedUp({ id, user: null, error });
    }
  };

  return (
    <section aria-labelledby="users-title">
      <div class="page-head">
        <h1 id="users-title">Users</h1>
      </div>
      <form class="filters" onSubmit={lookUp} aria-label="Search users">
        <label>
          User, plan or Stripe customer
          <input
            type="search"
            value={search}
            onInput={(e) => setSearch(e.currentTarget.value)}
            aria-describedby="users-search-hint"
          />
        </label>
        <button type="submit">Find user</button>
        <span class="hint" id="users-search-hint">
          Filters the users loaded below; Find user looks up an exact user id.
        </span>
      </form>
      {lookedUp && !lookedUp.user && lookedUp.id === search.trim() && <ErrorNote error={lookedUp.error} />}
      {loaded.state === "loading" && <Loading what="users" />}
      {loaded.state === "error" && <ErrorNote error={loaded.error} retry={reload} />}
      {loaded.state === "ready" && rows.length === 0 && (
        <Empty>{loaded.data.length === 0 ? "No user has a key yet." : "No loaded user matches."}</Empty>
      )}
      {rows.length > 0 && (
        <DataTable
          label="Users"
          columns={[
            "User",
            "Plan",
            "Stripe customer",
            can("usage:read") && "Quota this period",
            "Keys by status",
            "Last used",
            can("users:write") && "Actions",
          ]}
        >
          {rows.map((user) => (
            <tr key={user.user_id} data-user-id={user.user_id}>
              <th scope="row">
                {can("keys:read") ? (
                  <Link to={href("keys", { user_id: user.user_id })}>{user.user_id}</Link>
                ) : (
                  user.user_id
                )}
                {user.suspended_at && <span class="badge revoked">suspended</span>}
                {can("usage:read") && (
                  <span class="hint block">
                    <Link to={href("overview", { user_id: user.user_id })}>usage</Link>
                  </span>
                )}
              </th>
              <td class="plan">{user.plan_id ?? "none"}</td>
              <td>{user.stripe_customer_id ? <code>{user.stripe_customer_id}</code> : "none"}</td>
              {can("usage:read") && (
                <td>
                  <QuotaBar userId={user.user_id} />
                </td>
              )}
              <td>
                <KeyCounts counts={user.keys} />
              </td>
              <td>
                <Time iso={user.last_used_at} empty="never" />
              </td>
              {can("users:write") && (
                <td>
                  <button
                    type="button"
                    onClick={() => setEditing(user)}
                    aria-label={`${can("users:plan") ? "Change plan or customer" : "Change customer"} of ${user.user_id}`}
                  >
                    {can("users:plan") ? "Change plan" : "Change customer"}
                  </button>
                </td>
              )}
            </tr>
          ))}
        </DataTable>
      )}
      <MoreButton more={more} />
      {editing && <EditUserDialog user={editing} onClose={() => setEditing(null)} onDone={reload} />}
    </section>
  );
}

function KeyCounts({ counts }: { counts: UserSummary["keys"] }) {
  return (
    <ul class="counts" aria-label={`${counts.total} keys`}>
      {KEY_STATUSES.filter((s) => counts[s] > 0).map((s) => (
        <li key={s}>
          <span class={`badge ${s}`}>
            {counts[s]} {s}
          </span>
        </li>
      ))}
      {counts.total === 0 && <li>none</li>}
    </ul>
  );
}

function QuotaBar({ userId }: { userId: string }) {
  const [quota] = useLoad(
    () => call<Quota>("GET", `/api/users/${encodeURIComponent(userId)}/quota`),
    [userId],
  );
  if (quota.state === "loading") return <span class="hint">…</span>;
  if (quota.state === "error") return <span class="hint">unavailable</span>;
  const q = quota.data;
  if (q.monthly_quota === null) return <span>{formatNumber(q.used)} units, no quota</span>;
  const label = `${formatNumber(q.used)} of ${formatNumber(q.monthly_quota)} units used, ${formatNumber(q.remaining)} remaining`;
  return (
    <div class="quota">
      <progress max={q.monthly_quota} value={Math.min(q.used, q.monthly_quota)} aria-label={label} />
      <span>{label}</span>
    </div>
  );
}

function EditUserDialog({
  user,
  onClose,
  onDone,
}: {
  user: UserSummary;
  onClose: () => void;
  onDone: () => void;
}) {
  const can = useCan();
  const [plans] = useLoad(
    () =>
      can("plans:read") && can("users:plan")
        ? call<Page<Plan>>("GET", "/api/plans", { query: { limit: 100 } })
        : Promise.resolve(null),
    [],
  );
  const { busy, onSubmit, alert } = useSubmit(async (form) => {
    const plan = text(form, "plan_id");
    const customer = text(form, "stripe_customer_id");
    // Only what changed: an unchanged customer is not checked against Stripe again.
    const body = {
      ...(can("users:plan") && (plan || null) !== user.plan_id ? { plan_id: plan || null } : {}),
      ...((customer || null) !== user.stripe_customer_id ? { stripe_customer_id: customer || null } : {}),
    };
    if (Object.keys(body).length > 0) {
      await call("PUT", `/api/users/${encodeURIComponent(user.user_id)}`, { body });
      onDone();
    }
    onClose();
  });
  if (plans.state === "loading") {
    return (
      <Dialog title={`User ${user.user_id}`} onClose={onClose}>
        <Loading what="plans" />
      </Dialog>
    );
  }
  const planOptions = plans.state === "ready" && plans.data ? plans.data.data : [];
  return (
    <Dialog title={`User ${user.user_id}`} onClose={onClose}>
      <form onSubmit={onSubmit}>
        {can("users:plan") && (
          <Field id="user-plan" label="Plan">
            {planOptions.length > 0 ? (
              <select id="user-plan" name="plan_id">
                <option value="">No plan</option>
                {planOptions.map((p) => (
                  <option key={p.id} value={p.id} selected={p.id === user.plan_id}>
                    {p.name} ({p.id})
                  </option>
                ))}
              </select>
            ) : (
              <input id="user-plan" name="plan_id" defaultValue={user.plan_id ?? ""} />
            )}
          </Field>
        )}
        <Field
          id="user-customer"
          label="Stripe customer"
          hint="Empty: none (usage is kept until one is set)."
        >
          <input
            id="user-customer"
            name="stripe_customer_id"
            defaultValue={user.stripe_customer_id ?? ""}
            aria-describedby="user-customer-hint"
          />
        </Field>
        {alert}
        <button type="submit" disabled={busy}>
          Save
        </button>
      </form>
    </Dialog>
  );
}
