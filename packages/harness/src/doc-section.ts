import { existsSync, readFileSync, writeFileSync } from "node:fs";

/**
 * A delimited block of a generated document (docs/PERFORMANCE.md) that one program owns, or that
 * people write by hand: whoever rewrites the rest of the file carries it over as it stands.
 */
export class DocSection {
  readonly start: string;
  readonly end: string;
  private readonly block: RegExp;

  constructor(readonly name: string) {
    this.start = `<!-- ${name}:start -->`;
    this.end = `<!-- ${name}:end -->`;
    this.block = new RegExp(`${literal(this.start)}[\\s\\S]*?${literal(this.end)}`);
  }

  /** `body` between the markers. */
  wrap(body: string): string {
    return `${this.start}\n${body.trim()}\n${this.end}`;
  }

  /** `doc` with its block replaced by `section` (markers included), or `section` appended. */
  replace(doc: string, section: string): string {
    if (this.block.test(doc)) return doc.replace(this.block, () => section);
    return doc.trim() === "" ? `${section}\n` : `${doc.trimEnd()}\n\n${section}\n`;
  }

  write(path: string, section: string): void {
    writeFileSync(path, this.replace(existsSync(path) ? readFileSync(path, "utf8") : "", section));
  }

  /** The block as it stands in the file at `path`, markers included, if there is one. */
  kept(path: string): string | undefined {
    if (!existsSync(path)) return undefined;
    return this.block.exec(readFileSync(path, "utf8"))?.[0];
  }
}

function literal(text: string): string {
  return text.replace(/[.*+?^${}()|[\]\\]/g, "\\$&");
}
