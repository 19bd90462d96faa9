import { useEffect, useState } from "preact/hooks";

// Pages are paths under the base (/console/keys?user_id=u1); the server answers index.html for each.
const BASE = import.meta.env.BASE_URL.replace(/\/$/, "");

export interface Place {
  page: string;
  params: URLSearchParams;
}

const current = (): Place => ({
  page: location.pathname.slice(BASE.length).replace(/^\/+|\/+$/g, ""),
  params: new URLSearchParams(location.search),
});

export const href = (page: string, params: Record<string, string> = {}) => {
  const query = new URLSearchParams(params).toString();
  return `${BASE}/${page}${query ? `?${query}` : ""}`;
};

export function navigate(to: string): void {
  history.pushState(null, "", to);
  dispatchEvent(new PopStateEvent("popstate"));
}

export function usePlace(): Place {
  const [place, setPlace] = useState(current);
  useEffect(() => {
    const update = () => setPlace(current());
    addEventListener("popstate", update);
    return () => removeEventListener("popstate", update);
  }, []);
  return place;
}

/** An in-app link: a real <a href> (new tab works), followed without reloading the page. */
export function follow(event: MouseEvent): void {
  const link = event.currentTarget as HTMLAnchorElement;
  if (event.button !== 0 || event.metaKey || event.ctrlKey || event.shiftKey || event.altKey) return;
  event.preventDefault();
  navigate(link.getAttribute("href") ?? BASE);
}
