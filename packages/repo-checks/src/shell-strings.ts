/**
 * Finds code that builds a shell command string instead of passing an argv array: a shell parses such a
 * string again, so a bridge name or an image reference with a space, a quote or `;` in it becomes a
 * different command. Every system call goes through ctx.exec with an argv array; this check keeps it so.
 *
 * It reads the syntax tree (TypeScript's parser), not the text, so `/re/.exec(s)`, comments and strings
 * that merely mention a pattern are not reported.
 */
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import path from 'node:path';
import ts from 'typescript';

export interface Violation {
  /** relative to the scanned root, with forward slashes */
  file: string;
  line: number;
  column: number;
  rule: ShellRule;
  message: string;
}

export type ShellRule = 'child-process-exec' | 'shell-option' | 'execa-command-string' | 'execa-template' | 'zx-template' | 'shell-dash-c';

const SHELL_NAMES = /^(?:\/usr)?(?:\/bin\/)?(?:sh|bash|dash|zsh|ash|ksh)$/;
const DASH_C = /^-[a-z]*c$/;
const CHILD_PROCESS = new Set(['node:child_process', 'child_process']);
const STRING_RUNNERS = new Set(['exec', 'execSync']);
const EXECA_STRING_RUNNERS = new Set(['execaCommand', 'execaCommandSync']);
const SOURCE_EXT = /\.(?:[cm]?ts|[cm]?js|tsx|jsx)$/;
const SCANNED_DIRS = ['src', 'scripts', 'test'];

/** A plain string the author wrote whole, with nothing spliced in. */
function isLiteral(node: ts.Node): boolean {
  return ts.isStringLiteral(node) || ts.isNoSubstitutionTemplateLiteral(node);
}

function literalText(node: ts.Node | undefined): string | undefined {
  return node && isLiteral(node) ? (node as ts.StringLiteral).text : undefined;
}

/** The identifier at the root of `$`, `$.sync`, `$({ ... })`, `execa({ ... })`: the thing a template is tagged with. */
function tagRoot(expr: ts.Expression): string | undefined {
  let e: ts.Expression = expr;
  for (;;) {
    if (ts.isIdentifier(e)) return e.text;
    if (ts.isPropertyAccessExpression(e)) e = e.expression;
    else if (ts.isCallExpression(e)) e = e.expression;
    else if (ts.isParenthesizedExpression(e) || ts.isNonNullExpression(e)) e = e.expression;
    else return undefined;
  }
}

function calleeName(call: ts.CallExpression): { name?: string; object?: string } {
  const c = call.expression;
  if (ts.isIdentifier(c)) return { name: c.text };
  if (ts.isPropertyAccessExpression(c)) {
    return { name: c.name.text, ...(ts.isIdentifier(c.expression) ? { object: c.expression.text } : {}) };
  }
  return {};
}

/**
 * An argv array that hands a shell a string it did not get whole from the author: `['-c', cmd]` after a
 * shell name (`sh`, `/bin/bash`), or `['sh', '-c', `${x}`]` inside a longer argv (nsenter, runc exec).
 */
function shellDashC(elements: readonly ts.Expression[], shellBefore: boolean): ts.Expression | undefined {
  let sawShell = shellBefore;
  for (let i = 0; i < elements.length; i++) {
    const el = elements[i] as ts.Expression;
    const text = literalText(el);
    if (text !== undefined && SHELL_NAMES.test(text)) sawShell = true;
    if (sawShell && text !== undefined && DASH_C.test(text)) {
      const script = elements[i + 1];
      if (script === undefined) return el;
      if (!isLiteral(script)) return script;
    }
  }
  return undefined;
}

/** Scans one file's text. `file` is only used for the report and to pick the parser (ts or js). */
export function findShellStrings(file: string, text: string): Violation[] {
  const kind = /\.[cm]?js$|\.jsx$/.test(file) ? ts.ScriptKind.JS : ts.ScriptKind.TS;
  const source = ts.createSourceFile(file, text, ts.ScriptTarget.Latest, true, kind);
  const out: Violation[] = [];
  const report = (node: ts.Node, rule: ShellRule, message: string) => {
    const { line, character } = source.getLineAndCharacterOfPosition(node.getStart(source));
    out.push({ file, line: line + 1, column: character + 1, rule, message });
  };

  // names bound to child_process's string runners, to the module itself, to execa and to zx's $
  const cpNamespaces = new Set<string>();
  const cpRunners = new Map<string, string>();
  const execaNames = new Set<string>();
  const execaStringRunners = new Set<string>();
  const dollarNames = new Set<string>(['$']);

  for (const st of source.statements) {
    if (!ts.isImportDeclaration(st) || !ts.isStringLiteral(st.moduleSpecifier)) continue;
    const from = st.moduleSpecifier.text;
    const clause = st.importClause;
    if (!clause) continue;
    const named = clause.namedBindings && ts.isNamedImports(clause.namedBindings) ? clause.namedBindings.elements : [];
    const ns = clause.namedBindings && ts.isNamespaceImport(clause.namedBindings) ? clause.namedBindings.name.text : undefined;
    if (CHILD_PROCESS.has(from)) {
      if (clause.name) cpNamespaces.add(clause.name.text);
      if (ns) cpNamespaces.add(ns);
      for (const el of named) {
        const imported = (el.propertyName ?? el.name).text;
        if (STRING_RUNNERS.has(imported)) {
          cpRunners.set(el.name.text, imported);
          report(el, 'child-process-exec', `${imported} from ${from} runs a shell command string: use ctx.exec with an argv array`);
        }
      }
    }
    if (from === 'execa') {
      if (ns) execaNames.add(ns);
      for (const el of named) {
        const imported = (el.propertyName ?? el.name).text;
        if (imported === 'execa' || imported === 'execaSync') execaNames.add(el.name.text);
        if (EXECA_STRING_RUNNERS.has(imported)) execaStringRunners.add(el.name.text);
        if (imported === '$') dollarNames.add(el.name.text);
      }
    }
    if (from === 'zx' || from.startsWith('zx/')) {
      for (const el of named) if ((el.propertyName ?? el.name).text === '$') dollarNames.add(el.name.text);
    }
  }

  const visit = (node: ts.Node): void => {
    if (ts.isPropertyAssignment(node) && (ts.isIdentifier(node.name) || ts.isStringLiteral(node.name)) && node.name.text === 'shell') {
      if (node.initializer.kind !== ts.SyntaxKind.FalseKeyword) {
        report(node, 'shell-option', '`shell` option: the command would be parsed by a shell; pass an argv array without it');
      }
    }
    if (ts.isShorthandPropertyAssignment(node) && node.name.text === 'shell') {
      report(node, 'shell-option', '`shell` option: the command would be parsed by a shell; pass an argv array without it');
    }

    if (ts.isTaggedTemplateExpression(node)) {
      const root = tagRoot(node.tag);
      if (root !== undefined && dollarNames.has(root)) {
        report(node, 'zx-template', `${root}\`...\` runs a command line: use ctx.exec with an argv array`);
      } else if (root !== undefined && execaNames.has(root)) {
        report(node, 'execa-template', `${root}\`...\` parses a command line: use ctx.exec with an argv array`);
      }
    }

    if (ts.isCallExpression(node)) {
      const { name, object } = calleeName(node);
      const [first, second] = node.arguments;
      if (name !== undefined && object === undefined && cpRunners.has(name)) {
        report(node, 'child-process-exec', `${cpRunners.get(name)}() runs a shell command string: use ctx.exec with an argv array`);
      }
      if (name !== undefined && object !== undefined && cpNamespaces.has(object) && STRING_RUNNERS.has(name)) {
        report(node, 'child-process-exec', `${object}.${name}() runs a shell command string: use ctx.exec with an argv array`);
      }
      if (
        name !== undefined &&
        (execaStringRunners.has(name) || (object !== undefined && execaNames.has(object) && EXECA_STRING_RUNNERS.has(name)))
      ) {
        report(node, 'execa-command-string', `${name}() splits a command string: use ctx.exec with an argv array`);
      }
      if (name !== undefined && object === undefined && execaNames.has(name) && first !== undefined) {
        // execa(file, args): the file must be one program name, never a command line assembled from parts
        const text = literalText(first);
        const assembled =
          ts.isTemplateExpression(first) || (ts.isBinaryExpression(first) && first.operatorToken.kind === ts.SyntaxKind.PlusToken);
        if (assembled || (text !== undefined && /\s/.test(text.trim()))) {
          report(first, 'execa-command-string', `${name}() was given a command line as the program: pass the program and an argv array`);
        }
      }
      // exec('sh', ['-c', cmd]), spawn('/bin/bash', ['-lc', `...${x}`])
      const program = literalText(first);
      if (second !== undefined && ts.isArrayLiteralExpression(second)) {
        const bad = shellDashC(second.elements, program !== undefined && SHELL_NAMES.test(program));
        if (bad) report(bad, 'shell-dash-c', 'a shell script built from variables (sh -c): pass the command as an argv array instead');
      }
    }

    // ['nsenter', '--net=...', 'sh', '-c', cmd] anywhere, e.g. handed on to runc exec
    if (ts.isArrayLiteralExpression(node) && !(ts.isCallExpression(node.parent) && node.parent.arguments[1] === node)) {
      const bad = shellDashC(node.elements, false);
      if (bad) report(bad, 'shell-dash-c', 'a shell script built from variables (sh -c): pass the command as an argv array instead');
    }

    ts.forEachChild(node, visit);
  };
  visit(source);
  return out.sort((a, b) => a.line - b.line || a.column - b.column);
}

function sourceFiles(dir: string): string[] {
  const out: string[] = [];
  for (const name of readdirSync(dir).sort()) {
    if (name === 'node_modules' || name === 'dist' || name.startsWith('.')) continue;
    const p = path.join(dir, name);
    if (statSync(p).isDirectory()) out.push(...sourceFiles(p));
    else if (SOURCE_EXT.test(name) && !name.endsWith('.d.ts')) out.push(p);
  }
  return out;
}

/** Scans packages/<pkg>/{src,scripts,test} and scripts/ under `root` (a checkout of this repository). */
export function scanRepo(root: string): { files: number; violations: Violation[] } {
  const pkgs = path.join(root, 'packages');
  const violations: Violation[] = [];
  let files = 0;
  const dirs = (existsSync(pkgs) ? readdirSync(pkgs).sort() : []).flatMap((pkg) => SCANNED_DIRS.map((sub) => path.join(pkgs, pkg, sub)));
  // the repository's own scripts run commands too
  for (const dir of [...dirs, path.join(root, 'scripts')]) {
    if (!existsSync(dir) || !statSync(dir).isDirectory()) continue;
    for (const file of sourceFiles(dir)) {
      files += 1;
      const rel = path.relative(root, file).split(path.sep).join('/');
      violations.push(...findShellStrings(rel, readFileSync(file, 'utf8')));
    }
  }
  return { files, violations };
}

export function formatViolation(v: Violation): string {
  return `${v.file}:${v.line}:${v.column}: ${v.message} [${v.rule}]`;
}
