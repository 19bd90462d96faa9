import { describe, expect, test } from "vitest";
import { unknownFieldProblems } from "./field-check.js";
import { describeManifest, type K8sObject, loadManifests, manifestFiles } from "./manifests.js";

/** The kubernetes-models class for an object's apiVersion and kind; throws for a kind it does not know. */
async function modelFor(object: K8sObject) {
  const path = `kubernetes-models/${object.apiVersion}/${object.kind}`;
  const module = await import(path).catch(() => {
    throw new Error(`unknown apiVersion/kind ${object.apiVersion} ${object.kind}`);
  });
  const Model = module[object.kind];
  if (typeof Model !== "function" || Model.apiVersion !== object.apiVersion || Model.kind !== object.kind) {
    throw new Error(`unknown apiVersion/kind ${object.apiVersion} ${object.kind}`);
  }
  return Model as new (
    data: object,
  ) => { validate(): void };
}

async function validate(object: K8sObject): Promise<void> {
  const Model = await modelFor(object);
  new Model(object).validate();
}

const manifests = loadManifests();

describe("every manifest under k8s/", () => {
  test("there are manifests, and every file parses as YAML with at least one object", () => {
    expect(manifestFiles()).toContain("secret.example.yaml");
    for (const file of manifestFiles())
      expect(
        manifests.some((m) => m.file === file),
        file,
      ).toBe(true);
  });

  test.each(manifests.map((m) => [describeManifest(m), m.object] as const))(
    "%s is valid against the Kubernetes schema",
    async (_label, object) => {
      await validate(object);
    },
  );

  test("no object has a field the Kubernetes API does not know", () => {
    const problems = unknownFieldProblems(
      manifests.map((m) => ({ label: describeManifest(m), object: m.object })),
    );
    expect(problems).toEqual([]);
  }, 60_000);
});

describe("the checks themselves", () => {
  const deployment = (container: object): K8sObject => ({
    apiVersion: "apps/v1",
    kind: "Deployment",
    metadata: { name: "x" },
    spec: {
      selector: { matchLabels: { a: "b" } },
      template: {
        metadata: { labels: { a: "b" } },
        spec: { containers: [{ name: "c", image: "i", ...container }] },
      },
    },
  });

  test("an unknown kind fails", async () => {
    await expect(
      validate({ apiVersion: "apps/v1", kind: "Deploymnet", metadata: { name: "x" } }),
    ).rejects.toThrow(/unknown apiVersion\/kind apps\/v1 Deploymnet/);
    await expect(
      validate({ apiVersion: "apps/v2", kind: "Deployment", metadata: { name: "x" } }),
    ).rejects.toThrow(/unknown apiVersion\/kind/);
  });

  test("a value of the wrong type fails schema validation", async () => {
    await expect(validate(deployment({ ports: [{ containerPort: "8080" }] }))).rejects.toThrow(
      /must be integer/,
    );
  });

  test("a misspelt field is reported, with the object it is in", () => {
    const problems = unknownFieldProblems([
      { label: "bad.yaml #0", object: deployment({ readinesProbe: {} }) },
    ]);
    expect(problems).toEqual([expect.stringMatching(/^bad\.yaml #0: .*readinesProbe"?' does not exist/)]);
  }, 60_000);
});
