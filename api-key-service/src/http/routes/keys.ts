import type { Express, Request, Response } from "express";
import { AppError } from "../../errors.js";
import type { KeyService } from "../../keys/keys.service.js";
import type { RequestContext } from "../../request-context.js";
import { requireJson } from "../json-body.js";
import {
  createKeyBody,
  keyId,
  listKeysQuery,
  ownerQuery,
  rotateKeyBody,
  updateKeyBody,
  userId,
} from "../schemas.js";
import { validate } from "../validate.js";

export function contextOf(req: Request, res: Response): RequestContext {
  return { requestId: String(res.locals.requestId), clientIp: req.ip ?? null };
}

/** A malformed key id cannot name a key, so it is answered like any unknown id. */
function keyIdParam(req: Request): string {
  if (!keyId.safeParse(req.params.id).success) throw AppError.notFound("key");
  return String(req.params.id);
}

const owner = (req: Request) => ({ userId: validate(ownerQuery, req.query, "query").user_id });

export function keyRoutes(app: Express, keys: KeyService): void {
  app.post("/api/keys", requireJson, async (req, res) => {
    const body = validate(createKeyBody, req.body ?? {}, "body");
    const { expires_in, ...input } = body;
    const created = await keys.create({ ...input, expires_in_ms: expires_in }, contextOf(req, res));
    res.status(201).location(`/api/keys/by-id/${created.id}`).json(created);
  });

  app.get("/api/keys/:user_id", async (req, res) => {
    const user = validate(userId, req.params.user_id, "path");
    const { limit, cursor } = validate(listKeysQuery, req.query, "query");
    res.json(await keys.list(user, limit, cursor));
  });

  app.delete("/api/keys/:id", async (req, res) => {
    const id = keyIdParam(req);
    res.json(await keys.revoke(id, contextOf(req, res), owner(req)));
  });

  app.get("/api/keys/by-id/:id", async (req, res) => {
    const id = keyIdParam(req);
    res.json(await keys.get(id, owner(req)));
  });

  app.patch("/api/keys/by-id/:id", requireJson, async (req, res) => {
    const id = keyIdParam(req);
    const { expires_in, ...input } = validate(updateKeyBody, req.body ?? {}, "body");
    res.json(await keys.update(id, { ...input, expires_in_ms: expires_in }, contextOf(req, res), owner(req)));
  });

  app.post("/api/keys/by-id/:id/rotate", requireJson, async (req, res) => {
    const id = keyIdParam(req);
    const { grace_period } = validate(rotateKeyBody, req.body ?? {}, "body");
    res.json(await keys.rotate(id, grace_period, contextOf(req, res), owner(req)));
  });
}
