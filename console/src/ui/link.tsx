import type { ComponentChildren } from "preact";
import { follow } from "../router.js";

export function Link({
  to,
  children,
  current,
}: {
  to: string;
  children: ComponentChildren;
  current?: boolean;
}) {
  return (
    <a href={to} onClick={follow} aria-current={current ? "page" : undefined}>
      {children}
    </a>
  );
}
