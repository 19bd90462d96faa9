const local = new Intl.DateTimeFormat(undefined, { dateStyle: "medium", timeStyle: "short" });

/** `2026-11-20 09:00:00 UTC` */
export const utcText = (iso: string) => `${new Date(iso).toISOString().slice(0, 19).replace("T", " ")} UTC`;

/** A moment in the viewer's time zone, with UTC on hover (and in the title for screen readers). */
export function Time({ iso, empty = "—" }: { iso: string | null; empty?: string }) {
  if (!iso) return <span>{empty}</span>;
  return (
    <time dateTime={iso} title={utcText(iso)}>
      {local.format(new Date(iso))}
    </time>
  );
}
