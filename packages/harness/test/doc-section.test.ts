import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { DocSection } from "../src/index.js";

const verify = new DocSection("bench:verify");
const SECTION_START = verify.start;
const SECTION_END = verify.end;
const replaceSection = (doc: string, section: string) => verify.replace(doc, section);
const writeSection = (path: string, section: string) => verify.write(path, section);
const keptSection = (path: string) => verify.kept(path);

const section = (body: string) => `${SECTION_START}\n## The verify API\n\n${body}\n${SECTION_END}`;

describe("a delimited section of a document", () => {
  it("is appended after the rest when the document has none", () => {
    expect(replaceSection("# Title\n\ntext\n", section("one"))).toBe(
      `# Title\n\ntext\n\n${section("one")}\n`,
    );
    expect(replaceSection("", section("one"))).toBe(`${section("one")}\n`);
  });

  it("is replaced in place, leaving everything around it as it was", () => {
    const doc = `# Title\n\n${section("old $& $1")}\n\n## After\n`;
    expect(replaceSection(doc, section("new $& $1"))).toBe(
      `# Title\n\n${section("new $& $1")}\n\n## After\n`,
    );
  });

  it("survives a rewrite of the rest of the file that carries it over", () => {
    const dir = mkdtempSync(join(tmpdir(), "doc-section-"));
    try {
      const path = join(dir, "PERFORMANCE.md");
      writeSection(path, section("figures"));
      writeFileSync(path, `# Rewritten by another benchmark\n\n${keptSection(path)}\n`);
      expect(keptSection(path)).toBe(section("figures"));
      writeSection(path, section("newer"));
      expect(readFileSync(path, "utf8")).toBe(`# Rewritten by another benchmark\n\n${section("newer")}\n`);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it("is not found in a file that does not exist", () => {
    expect(keptSection(join(tmpdir(), "no-such-dir", "PERFORMANCE.md"))).toBeUndefined();
  });
});

describe("sections by name", () => {
  it("leave each other alone", () => {
    const tail = new DocSection("bench:authz:tail");
    const doc = `# Title\n\n${tail.wrap("tail figures")}\n\n${verify.wrap("verify figures")}\n`;
    expect(tail.replace(doc, tail.wrap("new tail"))).toBe(
      `# Title\n\n${tail.wrap("new tail")}\n\n${verify.wrap("verify figures")}\n`,
    );
    expect(verify.start).toBe("<!-- bench:verify:start -->");
  });
});
