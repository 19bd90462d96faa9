import { spawnSync } from "node:child_process";
import { readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { type Cleanup, type ManagedProcess, portOpen, startProcess, waitFor } from "@gateway/harness";

export interface NginxPorts {
  /** `return 200;` at once: the floor, a C server doing nothing. */
  floor: number;
  /** A proxy to backend-service, no auth. */
  plain: number;
  /** The same proxy with auth_request to the forward-auth endpoint. */
  authed: number;
  /** Where nginx reaches the service's forward-auth endpoint and backend-service. */
  forwardAuth: number;
  backend: number;
}

const proxyToBackend = `
      proxy_pass http://backend;
      proxy_http_version 1.1;
      proxy_set_header Connection "";`;

/**
 * One nginx, three servers. The auth_request setup is the usual one, kept minimal: the subrequest
 * carries the client's headers (the credential), the original method and URI, no body, and clears
 * X-Required-Scopes and X-Request-Cost so a client cannot set them; an allowed request reaches the
 * backend with the identity headers and without the credential. Both upstreams keep connections alive.
 */
export function nginxConfig(dir: string, ports: NginxPorts): string {
  const temp = (name: string) => `${name}_temp_path ${join(dir, name)};`;
  return `worker_processes 1;
pid ${join(dir, "nginx.pid")};
error_log ${join(dir, "error.log")} warn;
events { worker_connections 4096; }
http {
  access_log off;
  ${["client_body", "proxy", "fastcgi", "uwsgi", "scgi"].map(temp).join("\n  ")}
  keepalive_requests 1000000;
  upstream forward_auth { server 127.0.0.1:${ports.forwardAuth}; keepalive 64; }
  upstream backend { server 127.0.0.1:${ports.backend}; keepalive 64; }

  server {
    listen 127.0.0.1:${ports.floor};
    location / { return 200; }
  }

  server {
    listen 127.0.0.1:${ports.plain};
    location / {${proxyToBackend}
    }
  }

  server {
    listen 127.0.0.1:${ports.authed};
    location / {
      auth_request /_forward_auth;
      auth_request_set $api_key_id $upstream_http_x_api_key_id;
      auth_request_set $user_id $upstream_http_x_user_id;
      proxy_set_header X-Api-Key-Id $api_key_id;
      proxy_set_header X-User-Id $user_id;
      proxy_set_header Authorization "";
      proxy_set_header X-Api-Key "";${proxyToBackend}
    }
    location = /_forward_auth {
      internal;
      proxy_pass http://forward_auth/v1/forward-auth;
      proxy_pass_request_body off;
      proxy_set_header Content-Length "";
      proxy_set_header X-Original-URI $request_uri;
      proxy_set_header X-Original-Method $request_method;
      proxy_set_header X-Required-Scopes "";
      proxy_set_header X-Request-Cost "";
      proxy_http_version 1.1;
      proxy_set_header Connection "";
    }
  }
}
`;
}

export interface Nginx {
  process: ManagedProcess;
  /** The single worker, which does all the work (the master only supervises). */
  workerPid: number;
  version: string;
}

/** A private nginx on unprivileged loopback ports, with its own prefix, config and temp folders. */
export async function startNginx(cleanup: Cleanup, ports: NginxPorts): Promise<Nginx> {
  const dir = cleanup.tempDir("bench-forward-auth-nginx-");
  const conf = join(dir, "nginx.conf");
  writeFileSync(conf, nginxConfig(dir, ports));
  const nginx = startProcess({
    name: "nginx",
    command: "nginx",
    args: ["-p", dir, "-e", join(dir, "error.log"), "-c", conf, "-g", "daemon off;"],
    missing: "install Debian's nginx-light (it has auth_request)",
  });
  cleanup.add("stop nginx", () => nginx.stop("SIGQUIT", 5_000));
  await nginx.waitUntilReady(async () => {
    const open = await Promise.all([ports.floor, ports.plain, ports.authed].map((p) => portOpen(p)));
    return open.every(Boolean);
  }, 10_000);
  const workerPid = await waitFor("nginx's worker", 5_000, async () => {
    const children = readFileSync(`/proc/${nginx.pid}/task/${nginx.pid}/children`, "utf8").trim();
    return children === "" ? undefined : Number(children.split(" ")[0]);
  });
  // `nginx -v` writes to stderr.
  const version =
    /nginx\/(\S+)/.exec(spawnSync("nginx", ["-v"], { encoding: "utf8" }).stderr)?.[1] ?? "unknown";
  return { process: nginx, workerPid, version };
}
