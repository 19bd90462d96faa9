import ts from "typescript";
import { K8S_DIR, type K8sObject } from "./manifests.js";

/**
 * Fields the Kubernetes API does not know, found by TypeScript's excess-property check against
 * kubernetes-models' interfaces. The JSON schemas that `.validate()` uses allow unknown fields, while
 * kubectl apply (strict field validation, the default) refuses them: a misspelt `readinesProbe` would
 * pass validation here and fail on the cluster. Returns one message per problem, naming the object.
 */
export function unknownFieldProblems(objects: { label: string; object: K8sObject }[]): string[] {
  const lines: string[] = [];
  objects.forEach(({ object }, i) => {
    lines.push(
      `import type { I${object.kind} as T${i} } from "kubernetes-models/${object.apiVersion}/${object.kind}";`,
    );
  });
  const owners: { fromLine: number; label: string }[] = [];
  objects.forEach(({ label, object }, i) => {
    owners.push({ fromLine: lines.length, label });
    lines.push(...`export const m${i}: T${i} = ${JSON.stringify(object, null, 2)};`.split("\n"));
  });
  const source = lines.join("\n");
  // Inside k8s/ so that module resolution finds this package's kubernetes-models.
  const virtualFile = `${K8S_DIR}test/__manifests__.ts`;

  const options: ts.CompilerOptions = {
    strict: true,
    noEmit: true,
    target: ts.ScriptTarget.ES2022,
    module: ts.ModuleKind.NodeNext,
    moduleResolution: ts.ModuleResolutionKind.NodeNext,
    skipLibCheck: true,
    types: [],
  };
  const host = ts.createCompilerHost(options);
  const real = { getSourceFile: host.getSourceFile, fileExists: host.fileExists, readFile: host.readFile };
  host.getSourceFile = (name, language, ...rest) =>
    name === virtualFile
      ? ts.createSourceFile(name, source, language)
      : real.getSourceFile.call(host, name, language, ...rest);
  host.fileExists = (name) => name === virtualFile || real.fileExists.call(host, name);
  host.readFile = (name) => (name === virtualFile ? source : real.readFile.call(host, name));

  const program = ts.createProgram([virtualFile], options, host);
  return ts.getPreEmitDiagnostics(program).map((d) => {
    const text = ts.flattenDiagnosticMessageText(d.messageText, " ");
    if (d.file?.fileName !== virtualFile || d.start === undefined) return text;
    const line = d.file.getLineAndCharacterOfPosition(d.start).line;
    const owner = owners.findLast((o) => o.fromLine <= line);
    return `${owner?.label ?? "(imports)"}: ${text}`;
  });
}
