// The benches share bench/RESULTS.md: bench/run.mjs writes the file, each other bench (bench:cni, bench:nodes)
// owns one section of it between markers, replaced in place or appended, the rest left as it is.
import { existsSync, readFileSync, writeFileSync } from 'node:fs';

const start = (name) => `<!-- bench:${name} start -->`;
const end = (name) => `<!-- bench:${name} end -->`;

/** Writes `section` as bench `name`'s part of `file`. */
export function writeMarkedSection(file, name, section) {
  const block = `${start(name)}\n${section}\n${end(name)}`;
  const old = existsSync(file) ? readFileSync(file, 'utf8') : '';
  const a = old.indexOf(start(name));
  const b = old.indexOf(end(name));
  const next =
    a >= 0 && b > a ? `${old.slice(0, a)}${block}${old.slice(b + end(name).length)}` : `${old.trimEnd()}${old ? '\n\n' : ''}${block}\n`;
  writeFileSync(file, next);
}

/** Every bench's marked section in `text`, whole, in order: what bench/run.mjs carries over when it rewrites the file. */
export function markedSections(text) {
  return [...text.matchAll(/<!-- bench:([\w-]+) start -->[\s\S]*?<!-- bench:\1 end -->/g)].map((m) => m[0]);
}
