import { useState } from "preact/hooks";
import { useCan } from "../access.js";
import { TimeChart } from "../ui/chart.js";
import { formatNumber } from "../ui/form.js";
import { Empty, ErrorNote, Loading, TableWrap } from "../ui/states.js";
import { Time } from "../ui/time.js";
import { useLoad } from "../ui/use-load.js";
import { deniedByReason, loadOverview, type Span, type WindowTotals } from "../usage.js";

const n = (v: number) => formatNumber(v);

export function OverviewPage({ params }: { params: URLSearchParams }) {
  const can = useCan();
  const [user, setUser] = useState(params.get("user_id") ?? "");
  const [span, setSpan] = useState<Span>(params.get("span") === "month" ? "month" : "day");
  const allowAll = can("users:read");
  const [loaded, reload] = useLoad(
    () => (user || allowAll ? loadOverview(user || null, span) : Promise.resolve(null)),
    [user, span],
  );
  const apply = (event: Event) => {
    event.preventDefault();
    const form = new FormData(event.currentTarget as HTMLFormElement);
    setUser(String(form.get("user_id") ?? "").trim());
    setSpan(form.get("span") === "month" ? "month" : "day");
  };
  return (
    <section aria-labelledby="overview-title">
      <div class="page-head">
        <h1 id="overview-title">Overview</h1>
      </div>
      <form class="filters" onSubmit={apply} aria-label="Choose what the overview shows">
        <label>
          User id {allowAll ? "(empty: all users)" : ""}
          <input name="user_id" defaultValue={user} required={!allowAll} />
        </label>
        <label>
          Period
          <select name="span">
            <option value="day" selected={span === "day"}>
              Last 24 hours, by hour
            </option>
            <option value="month" selected={span === "month"}>
              Last 30 days, by day
            </option>
          </select>
        </label>
        <button type="submit">Show</button>
      </form>
      {loaded.state === "loading" && <Loading what="usage" />}
      {loaded.state === "error" && <ErrorNote error={loaded.error} retry={reload} />}
      {loaded.state === "ready" && loaded.data === null && <Empty>Enter a user id to see its usage.</Empty>}
      {loaded.state === "ready" && loaded.data && (
        <>
          <p class="hint">
            {user ? `User ${user}` : `All ${loaded.data.users} users`}
            {loaded.data.truncated && " (the first 500 by id)"}, from GET /api/usage.
          </p>
          <Totals windows={loaded.data.windows} />
          {loaded.data.windows.length === 0 ? (
            <Empty>No check or request in this period.</Empty>
          ) : (
            <Charts windows={loaded.data.windows} />
          )}
          <StripeTable stripe={loaded.data.stripe} windows={loaded.data.windows} />
          {!user && <DeniedReasons />}
        </>
      )}
    </section>
  );
}

function Totals({ windows }: { windows: WindowTotals[] }) {
  const sum = (f: (w: WindowTotals) => number) => windows.reduce((t, w) => t + f(w), 0);
  const cards: [string, number][] = [
    ["Checks allowed", sum((w) => w.allowed)],
    ["Checks denied", sum((w) => w.denied)],
    ["Requests delivered", sum((w) => w.requests)],
    ["Billable units", sum((w) => w.billable_units)],
    ["Access-log gap", sum((w) => w.gap)],
  ];
  return (
    <dl class="cards" aria-label="Totals">
      {cards.map(([label, value]) => (
        <div key={label}>
          <dt>{label}</dt>
          <dd>{n(value)}</dd>
        </div>
      ))}
    </dl>
  );
}

function Charts({ windows }: { windows: WindowTotals[] }) {
  const times = windows.map((w) => Date.parse(w.window_start));
  const total = (f: (w: WindowTotals) => number) => n(windows.reduce((t, w) => t + f(w), 0));
  const period = `${windows.length} windows`;
  return (
    <>
      <TimeChart
        title="Requests and billable units"
        times={times}
        summary={`${period}; ${total((w) => w.requests)} requests delivered, ${total((w) => w.billable_units)} billable units. The numbers are in the table below.`}
        series={[
          { label: "Requests delivered", color: "#0b5cad", values: windows.map((w) => w.requests) },
          { label: "Billable units", color: "#8a5a00", values: windows.map((w) => w.billable_units) },
        ]}
      />
      <TimeChart
        title="Checks allowed and denied"
        times={times}
        summary={`${period}; ${total((w) => w.allowed)} allowed, ${total((w) => w.denied)} denied. The numbers are in the table below.`}
        series={[
          { label: "Allowed", color: "#1a7f37", values: windows.map((w) => w.allowed), bars: true },
          { label: "Denied", color: "#b3261e", values: windows.map((w) => w.denied), bars: true },
        ]}
      />
      <h2 id="windows-title">Per window</h2>
      <TableWrap label="Usage per window">
        <table aria-labelledby="windows-title">
          <thead>
            <tr>
              <th scope="col">Window</th>
              <th scope="col" class="num">
                Allowed
              </th>
              <th scope="col" class="num">
                Denied
              </th>
              <th scope="col" class="num">
                Requests delivered
              </th>
              <th scope="col" class="num">
                Billable units
              </th>
              <th scope="col" class="num">
                Access-log gap
              </th>
            </tr>
          </thead>
          <tbody>
            {windows.map((w) => (
              <tr key={w.window_start} data-window={w.window_start}>
                <th scope="row">
                  <Time iso={w.window_start} />
                </th>
                <td class="num">{n(w.allowed)}</td>
                <td class="num">{n(w.denied)}</td>
                <td class="num">{n(w.requests)}</td>
                <td class="num">{n(w.billable_units)}</td>
                <td class="num">{n(w.gap)}</td>
              </tr>
            ))}
          </tbody>
        </table>
      </TableWrap>
    </>
  );
}

function StripeTable({
  stripe,
  windows,
}: {
  stripe: { stripe_customer_id: string; day: string; sent: number; pending: number; dead: number }[];
  windows: WindowTotals[];
}) {
  const recorded = new Map<string, number>();
  for (const w of windows)
    recorded.set(
      w.window_start.slice(0, 10),
      (recorded.get(w.window_start.slice(0, 10)) ?? 0) + w.billable_units,
    );
  const days = [...new Set([...recorded.keys(), ...stripe.map((s) => s.day)])].sort();
  const of = (day: string, f: "sent" | "pending" | "dead") =>
    stripe.filter((s) => s.day === day).reduce((t, s) => t + s[f], 0);
  return (
    <>
      <h2 id="stripe-title">Stripe: sent and recorded, per UTC day</h2>
      {days.length === 0 ? (
        <Empty>Nothing recorded or sent to Stripe in this period.</Empty>
      ) : (
        <TableWrap label="Stripe sent and recorded">
          <table aria-labelledby="stripe-title">
            <thead>
              <tr>
                <th scope="col">Day (UTC)</th>
                <th scope="col" class="num">
                  Billable units recorded
                </th>
                <th scope="col" class="num">
                  Sent to Stripe
                </th>
                <th scope="col" class="num">
                  Waiting to send
                </th>
                <th scope="col" class="num">
                  Given up
                </th>
                <th scope="col">Customers</th>
              </tr>
            </thead>
            <tbody>
              {days.map((day) => (
                <tr key={day}>
                  <th scope="row">{day}</th>
                  <td class="num">{n(recorded.get(day) ?? 0)}</td>
                  <td class="num">{n(of(day, "sent"))}</td>
                  <td class="num">{n(of(day, "pending"))}</td>
                  <td class="num">{n(of(day, "dead"))}</td>
                  <td>
                    {stripe
                      .filter((s) => s.day === day)
                      .map((s) => s.stripe_customer_id)
                      .join(", ") || "—"}
                  </td>
                </tr>
              ))}
            </tbody>
          </table>
        </TableWrap>
      )}
      <p class="hint">
        Recorded: billable units of the windows above that fall on that day. Sent, waiting and given up: meter
        events by Stripe customer and day. In a 24-hour view the first and last day are partial.
      </p>
    </>
  );
}

function DeniedReasons() {
  const [loaded] = useLoad(deniedByReason, []);
  return (
    <>
      <h2 id="reasons-title">Denied checks by reason</h2>
      <p class="hint">
        The usage report counts denials without their reason; these are this replica's counters since it
        started (GET /metrics).
      </p>
      {loaded.state === "loading" && <Loading what="denial reasons" />}
      {loaded.state === "error" && <ErrorNote error={loaded.error} />}
      {loaded.state === "ready" && loaded.data.length === 0 && (
        <Empty>No check denied since this replica started.</Empty>
      )}
      {loaded.state === "ready" && loaded.data.length > 0 && (
        <TableWrap label="Denied checks by reason">
          <table aria-labelledby="reasons-title">
            <thead>
              <tr>
                <th scope="col">Reason</th>
                <th scope="col" class="num">
                  Checks
                </th>
              </tr>
            </thead>
            <tbody>
              {loaded.data.map((r) => (
                <tr key={r.reason}>
                  <th scope="row">{r.reason}</th>
                  <td class="num">{n(r.count)}</td>
                </tr>
              ))}
            </tbody>
          </table>
        </TableWrap>
      )}
    </>
  );
}
