import { existsSync, readFileSync, writeFileSync } from "node:fs";

/**
 * bench:verify owns one delimited block of docs/PERFORMANCE.md; bench:authz writes the rest of the
 * file and carries this block over (see keptSection).
 */
export const SECTION_START = "<!-- bench:verify:start -->";
export const SECTION_END = "<!-- bench:verify:end -->";
const BLOCK = new RegExp(`${SECTION_START}[\\s\\S]*?${SECTION_END}`);

/** `doc` with its block replaced by `section` (markers included), or `section` appended. */
export function replaceSection(doc: string, section: string): string {
  if (BLOCK.test(doc)) return doc.replace(BLOCK, () => section);
  return doc.trim() === "" ? `${section}\n` : `${doc.trimEnd()}\n\n${section}\n`;
}

export function writeSection(path: string, section: string): void {
  writeFileSync(path, replaceSection(existsSync(path) ? readFileSync(path, "utf8") : "", section));
}

/** The block as it stands in the file at `path`, markers included, if there is one. */
export function keptSection(path: string): string | undefined {
  if (!existsSync(path)) return undefined;
  return BLOCK.exec(readFileSync(path, "utf8"))?.[0];
}
