import { useState } from "preact/hooks";
import { useCan } from "../access.js";
import { call } from "../api.js";
import type { Plan } from "../types.js";
import { Dialog } from "../ui/dialog.js";
import { Field, formatNumber, limit, list, text, useSubmit } from "../ui/form.js";
import { MoreButton } from "../ui/more.js";
import { usePaged } from "../ui/paged.js";
import { DataTable, ListStates } from "../ui/states.js";
import { Time } from "../ui/time.js";

type Open = { kind: "create" } | { kind: "edit" | "delete"; plan: Plan } | null;

export function PlansPage(_: { params: URLSearchParams }) {
  const can = useCan();
  const [open, setOpen] = useState<Open>(null);
  const { loaded, more, reload } = usePaged<Plan>("/api/plans", { limit: 50 });
  const close = () => setOpen(null);
  return (
    <section aria-labelledby="plans-title">
      <div class="page-head">
        <h1 id="plans-title">Plans</h1>
        {can("plans:write") && (
          <button type="button" onClick={() => setOpen({ kind: "create" })}>
            Create plan
          </button>
        )}
      </div>
      <ListStates
        loaded={loaded}
        what="plans"
        retry={reload}
        empty="No plan yet: keys use their own limits, else the configured defaults."
      >
        {(rows) => (
          <DataTable
            label="Plans"
            columns={[
              "Plan",
              "Per minute / day",
              "Monthly quota",
              "Past the quota",
              "Alerts at",
              "Updated",
              can("plans:write") && "Actions",
            ]}
          >
            {rows.map((plan) => (
              <tr key={plan.id}>
                <th scope="row">
                  {plan.name} <code>{plan.id}</code>
                </th>
                <td>
                  {formatNumber(plan.rate_limit_per_minute)} / {formatNumber(plan.rate_limit_per_day)}
                </td>
                <td>{formatNumber(plan.monthly_quota, "unlimited")}</td>
                <td>{plan.overage === "block" ? "refused" : "billed"}</td>
                <td>{plan.alert_thresholds.map((t) => `${Math.round(t * 100)} %`).join(", ") || "—"}</td>
                <td>
                  <Time iso={plan.updated_at} />
                </td>
                {can("plans:write") && (
                  <td class="actions">
                    <button
                      type="button"
                      onClick={() => setOpen({ kind: "edit", plan })}
                      aria-label={`Edit plan ${plan.id}`}
                    >
                      Edit
                    </button>
                    <button
                      type="button"
                      class="danger"
                      onClick={() => setOpen({ kind: "delete", plan })}
                      aria-label={`Delete plan ${plan.id}`}
                    >
                      Delete
                    </button>
                  </td>
                )}
              </tr>
            ))}
          </DataTable>
        )}
      </ListStates>
      <MoreButton more={more} />
      {open?.kind === "create" && <PlanDialog onClose={close} onDone={reload} />}
      {open?.kind === "edit" && <PlanDialog plan={open.plan} onClose={close} onDone={reload} />}
      {open?.kind === "delete" && <DeletePlanDialog plan={open.plan} onClose={close} onDone={reload} />}
    </section>
  );
}

function PlanDialog({ plan, onClose, onDone }: { plan?: Plan; onClose: () => void; onDone: () => void }) {
  const { busy, onSubmit, alert } = useSubmit(async (form) => {
    const settings = {
      name: text(form, "name"),
      rate_limit_per_minute: limit(form, "per_minute"),
      rate_limit_per_day: limit(form, "per_day"),
      monthly_quota: limit(form, "quota"),
      overage: text(form, "overage"),
      alert_thresholds: list(text(form, "alerts")).map((p) => Number(p) / 100),
    };
    if (plan) await call("PATCH", `/api/plans/${plan.id}`, { body: settings });
    else await call("POST", "/api/plans", { body: { id: text(form, "id"), ...settings } });
    onDone();
    onClose();
  });
  return (
    <Dialog title={plan ? `Edit plan ${plan.id}` : "Create a plan"} onClose={onClose}>
      <form onSubmit={onSubmit}>
        {!plan && (
          <Field id="plan-id" label="Id" hint="a-z, 0-9, _ and -; it cannot change later.">
            <input id="plan-id" name="id" required aria-describedby="plan-id-hint" />
          </Field>
        )}
        <Field id="plan-name" label="Name">
          <input id="plan-name" name="name" required defaultValue={plan?.name ?? ""} />
        </Field>
        <Field id="plan-per-minute" label="Requests per minute" hint="Empty: the configured default.">
          <input
            id="plan-per-minute"
            name="per_minute"
            type="number"
            min={1}
            defaultValue={plan?.rate_limit_per_minute ?? ""}
          />
        </Field>
        <Field id="plan-per-day" label="Requests per day" hint="Empty: the configured default.">
          <input
            id="plan-per-day"
            name="per_day"
            type="number"
            min={1}
            defaultValue={plan?.rate_limit_per_day ?? ""}
          />
        </Field>
        <Field id="plan-quota" label="Monthly quota (units)" hint="Empty: unlimited.">
          <input
            id="plan-quota"
            name="quota"
            type="number"
            min={1}
            defaultValue={plan?.monthly_quota ?? ""}
          />
        </Field>
        <Field id="plan-overage" label="Past the quota">
          <select id="plan-overage" name="overage">
            <option value="block" selected={plan?.overage !== "bill"}>
              Refuse requests
            </option>
            <option value="bill" selected={plan?.overage === "bill"}>
              Admit and bill
            </option>
          </select>
        </Field>
        <Field id="plan-alerts" label="Alert at (% of the quota)" hint="Such as 80 100.">
          <input
            id="plan-alerts"
            name="alerts"
            defaultValue={(plan?.alert_thresholds ?? [0.8, 1]).map((t) => Math.round(t * 100)).join(" ")}
          />
        </Field>
        {alert}
        <button type="submit" disabled={busy}>
          {plan ? "Save" : "Create plan"}
        </button>
      </form>
    </Dialog>
  );
}

function DeletePlanDialog({
  plan,
  onClose,
  onDone,
}: {
  plan: Plan;
  onClose: () => void;
  onDone: () => void;
}) {
  const { busy, onSubmit, alert } = useSubmit(async () => {
    await call("DELETE", `/api/plans/${plan.id}`);
    onDone();
    onClose();
  });
  return (
    <Dialog title={`Delete plan ${plan.id}`} onClose={onClose}>
      <form onSubmit={onSubmit}>
        <p>A plan can be deleted only while no user is on it.</p>
        {alert}
        <button type="submit" class="danger" disabled={busy}>
          Delete plan
        </button>
      </form>
    </Dialog>
  );
}
